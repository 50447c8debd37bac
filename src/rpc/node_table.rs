//! The method table of nodes and device pairing: what operators call to see, pair and invoke
//! nodes and to approve devices, and what a node socket calls. Same entry format as the core
//! table in [`super::registry`].

use super::registry::{m, now, waits, Gate, Method, Params};
use super::{device_scopes, devices, exec_approvals, exec_policy, node_pending, nodes};
use Params::{Observed, Schema91, Schema96};

/// The methods of this table.
pub static NODES: &[Method] = &[
    m(
        "node.list",
        Schema96("NodeListParams"),
        now!(|c, r| nodes::list(c, r)),
    ),
    m(
        "node.describe",
        Schema96("NodeDescribeParams"),
        now!(|c, r| nodes::describe(c, r)),
    ),
    m(
        "node.rename",
        Schema96("NodeRenameParams"),
        waits!(Ordered, |c, r| nodes::rename(c, r)),
    ),
    m(
        "node.pair.list",
        Schema96("NodePairListParams"),
        now!(|c, r| nodes::pair_list(c, r)),
    ),
    m(
        "node.pair.approve",
        Schema96("NodePairApproveParams"),
        waits!(Ordered, |c, r| nodes::pair_approve(c, r)),
    ),
    m(
        "node.pair.reject",
        Schema96("NodePairRejectParams"),
        waits!(Ordered, |c, r| nodes::pair_reject(c, r)),
    ),
    m(
        "node.pair.remove",
        Schema96("NodePairRemoveParams"),
        waits!(Ordered, |c, r| nodes::pair_remove(c, r)),
    ),
    m(
        "node.invoke",
        Schema96("NodeInvokeParams"),
        waits!(Waits, |c, r| nodes::invoke(c, r)),
    ),
    m(
        "node.invoke.result",
        Schema96("NodeInvokeResultParams"),
        now!(|c, r| nodes::invoke_result(c, r)),
    ),
    m(
        "node.invoke.progress",
        Schema96("NodeInvokeProgressParams"),
        now!(|c, r| nodes::invoke_progress(c, r)),
    ),
    m(
        "node.event",
        Schema96("NodeEventParams"),
        now!(|c, r| nodes::event(c, r)),
    ),
    m(
        "node.runnerInventory.update",
        Observed(&["protocolFeatures", "workerHost", "runners"]),
        now!(|c, r| nodes::runner_inventory(c, r)),
    ),
    m(
        "node.skills.update",
        Schema96("NodeSkillsUpdateParams"),
        now!(|c, r| nodes::surface_update(c, r, "skills")),
    ),
    m(
        "node.pluginTools.update",
        Schema96("NodePluginToolsUpdateParams"),
        now!(|c, r| nodes::surface_update(c, r, "tools")),
    ),
    m(
        "node.pending.enqueue",
        Schema96("NodePendingEnqueueParams"),
        now!(|c, r| node_pending::enqueue(c, r)),
    ),
    m(
        "node.pending.drain",
        Schema96("NodePendingDrainParams"),
        now!(|c, r| node_pending::drain(c, r)),
    ),
    m(
        "node.pending.pull",
        Observed(&[]),
        now!(|c, r| node_pending::pull(c, r)),
    ),
    m(
        "node.pending.ack",
        Schema96("NodePendingAckParams"),
        now!(|c, r| node_pending::ack(c, r)),
    ),
    m(
        "device.pair.approve",
        Schema91("DevicePairApproveParams"),
        waits!(Ordered, |c, r| devices::pair_approve(c, r)),
    ),
    m(
        "device.pair.reject",
        Schema91("DevicePairRejectParams"),
        waits!(Ordered, |c, r| devices::pair_reject(c, r)),
    ),
    m(
        "device.pair.remove",
        Schema91("DevicePairRemoveParams"),
        waits!(Ordered, |c, r| devices::pair_remove(c, r)),
    ),
    m(
        "device.pair.rename",
        Schema91("DevicePairRenameParams"),
        waits!(Ordered, |c, r| devices::pair_rename(c, r)),
    ),
    // Any operator with a paired device may ask (the Node gateway skips the scope check).
    Method {
        gate: Gate::AnyAuthed,
        ..m(
            "device.scopes.requestUpgrade",
            Observed(&["scopes"]),
            waits!(Ordered, |c, r| device_scopes::request_upgrade(c, r)),
        )
    },
    Method {
        gate: Gate::AnyAuthed,
        ..m(
            "device.scopes.waitUpgrade",
            Observed(&["requestId"]),
            waits!(Waits, |c, r| device_scopes::wait_upgrade(c, r)),
        )
    },
    m(
        "device.token.rotate",
        Schema91("DeviceTokenRotateParams"),
        waits!(Ordered, |c, r| devices::token_rotate(c, r)),
    ),
    m(
        "device.token.revoke",
        Schema91("DeviceTokenRevokeParams"),
        waits!(Ordered, |c, r| devices::token_revoke(c, r)),
    ),
    m(
        "exec.approvals.get",
        Schema96("ExecApprovalsGetParams"),
        waits!(Waits, |c, r| exec_policy::get(c, r)),
    ),
    m(
        "exec.approvals.set",
        Schema96("ExecApprovalsSetParams"),
        waits!(Ordered, |c, r| exec_policy::set(c, r)),
    ),
    m(
        "exec.approvals.node.get",
        Schema91("ExecApprovalsNodeGetParams"),
        waits!(Waits, |c, r| exec_policy::node_get(c, r)),
    ),
    m(
        "exec.approvals.node.set",
        Schema91("ExecApprovalsNodeSetParams"),
        waits!(Waits, |c, r| exec_policy::node_set(c, r)),
    ),
    m(
        "exec.approval.grants.list",
        Observed(&["limit"]),
        now!(|c, r| exec_policy::grants_list(c, r)),
    ),
    m(
        "exec.approval.grants.revoke",
        Observed(&["grantId"]),
        now!(|c, r| exec_policy::grants_revoke(c, r)),
    ),
    m(
        "exec.approval.request",
        Schema96("ExecApprovalRequestParams"),
        waits!(Waits, |c, r| exec_approvals::request(c, r)),
    ),
    m(
        "exec.approval.get",
        Schema96("ExecApprovalGetParams"),
        now!(|c, r| exec_approvals::get(c, r)),
    ),
    m(
        "exec.approval.resolve",
        Schema96("ExecApprovalResolveParams"),
        now!(|c, r| exec_approvals::resolve(c, r)),
    ),
    m(
        "exec.approval.waitDecision",
        Observed(&["id"]),
        waits!(Waits, |c, r| exec_approvals::wait_decision(c, r)),
    ),
];
