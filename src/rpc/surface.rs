//! The method table of the operator surface (channels, approvals, users, diagnostics,
//! usage, skills, hooks, tools, wake), of what the Control UI asks at boot and on its chat
//! page, and of automations (`cron.*`). Same entry format as the core table in
//! [`super::registry`], which serves both.

use super::registry::{m, now, waits, Method, Params};
use super::{
    approvals, catalogs, channels, config_write, cron, devices, diagnostics, models_auth, pages,
    profile, settings, system, ui, usage,
};
use Params::{Observed, Schema96};

/// The methods of this table.
pub static SURFACE: &[Method] = &[
    // Operator surface: channels (none), approvals and users (none), diagnostics, usage,
    // skills, hooks, tools, wake.
    m(
        "channels.status",
        Schema96("ChannelsStatusParams"),
        now!(|c, r| channels::status(c, r)),
    ),
    m(
        "channels.pairing.list",
        Schema96("ChannelsPairingListParams"),
        now!(|c, r| channels::pairing_list(c, r)),
    ),
    m(
        "send",
        Schema96("SendParams"),
        now!(|c, r| channels::send(c, r)),
    ),
    m(
        "message.action",
        Schema96("MessageActionParams"),
        now!(|c, r| channels::action(c, r)),
    ),
    m(
        "exec.approval.list",
        Observed(&[]),
        now!(|c, r| super::exec_approvals::list(c, r)),
    )
    .loose(),
    m(
        "plugin.approval.list",
        Observed(&[]),
        now!(|c, r| approvals::pending(c, r)),
    )
    .loose(),
    m(
        "openclaw.approval.list",
        Observed(&[]),
        now!(|c, r| approvals::pending(c, r)),
    )
    .loose(),
    m(
        "approval.history",
        Schema96("ApprovalHistoryParams"),
        now!(|c, r| approvals::history(c, r)),
    ),
    m(
        "users.list",
        Schema96("UsersListParams"),
        now!(|c, r| approvals::users_list(c, r)),
    ),
    m(
        "users.self",
        Schema96("UsersSelfParams"),
        now!(|c, r| profile::user_self(c, r)),
    ),
    m(
        "system.info",
        Schema96("SystemInfoParams"),
        waits!(Waits, |c, r| diagnostics::system_info(c, r)),
    ),
    m(
        "diagnostics.lanes",
        Observed(&[]),
        now!(|c, r| diagnostics::lanes(c, r)),
    )
    .loose(),
    m(
        "diagnostics.stability",
        Observed(&["type", "limit"]),
        now!(|c, r| diagnostics::stability(c, r)),
    )
    .loose(),
    m(
        "usage.status",
        Observed(&[]),
        now!(|c, r| usage::status(c, r)),
    )
    .loose(),
    m(
        "usage.cost",
        Observed(&["days", "startDate", "endDate", "mode", "timeZone"]),
        waits!(Waits, |c, r| usage::cost(c, r)),
    )
    .loose(),
    m(
        "sessions.usage",
        Schema96("SessionsUsageParams"),
        waits!(Waits, |c, r| usage::sessions(c, r)),
    ),
    m(
        "skills.status",
        Schema96("SkillsStatusParams"),
        waits!(Waits, |c, r| catalogs::skills(c, r)),
    ),
    m(
        "hooks.status",
        Schema96("HooksStatusParams"),
        now!(|c, r| catalogs::hooks(c, r)),
    ),
    m(
        "tools.catalog",
        Schema96("ToolsCatalogParams"),
        now!(|c, r| catalogs::tools(c, r)),
    ),
    m(
        "wake",
        Schema96("WakeParams"),
        waits!(Ordered, |c, r| system::wake(c, r)),
    )
    .loose(),
    // What the Control UI asks at boot and on its chat page.
    m(
        "chat.startup",
        Schema96("ChatStartupParams"),
        waits!(Waits, |c, r| ui::chat_startup(c, r)),
    ),
    m(
        "sessions.describe",
        Schema96("SessionsDescribeParams"),
        waits!(Waits, |c, r| ui::describe(c, r)),
    ),
    m(
        "update.status",
        Schema96("UpdateStatusParams"),
        now!(|c, r| ui::update_status(c, r)),
    ),
    m(
        "environments.list",
        Schema96("EnvironmentsListParams"),
        now!(|c, r| ui::environments(c, r)),
    ),
    m(
        "tasks.list",
        Schema96("TasksListParams"),
        now!(|c, r| ui::tasks(c, r)),
    ),
    m(
        "board.get",
        Schema96("BoardGetParams"),
        now!(|c, r| ui::board(c, r)),
    ),
    m(
        "sessions.viewers.set",
        Observed(&["sessionKeys"]),
        now!(|c, r| ui::viewers(c, r)),
    ),
    m(
        "mentions.list",
        Schema96("MentionsListParams"),
        now!(|c, r| ui::mentions(c, r)),
    ),
    m(
        "plugins.controlUi.list",
        Schema96("PluginsControlUiListParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "question.list",
        Schema96("QuestionListParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "sessions.groups.list",
        Schema96("SessionsGroupsListParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "sessions.groups.defaults",
        Schema96("SessionsGroupsDefaultsParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "progressCard.get",
        Schema96("ProgressCardGetParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "taskSuggestions.list",
        Schema96("TaskSuggestionsListParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "session.discussion.info",
        Schema96("SessionDiscussionInfoParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "sessions.companion.state",
        Schema96("SessionsCompanionStateParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "sessions.branches.list",
        Schema96("SessionsBranchesListParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "sessions.observer.visibility",
        Schema96("SessionsObserverVisibilityParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "sessions.catalog.list",
        Schema96("SessionsCatalogListParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "plugins.list",
        Schema96("PluginsListParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "skills.library.list",
        Schema96("SkillsLibraryListParams"),
        now!(|c, r| ui::empty(c, r)),
    ),
    m(
        "worktrees.list",
        Schema96("WorktreesListParams"),
        now!(|c, r| ui::worktrees(c, r)),
    ),
    m(
        "artifacts.list",
        Schema96("ArtifactsListParams"),
        now!(|c, r| ui::artifacts(c, r)),
    ),
    m(
        "users.prefs.get",
        Schema96("UsersPrefsGetParams"),
        now!(|c, r| profile::prefs_get(c, r)),
    ),
    m(
        "users.prefs.set",
        Schema96("UsersPrefsSetParams"),
        waits!(Ordered, |c, r| profile::prefs_set(c, r)),
    ),
    m(
        "themes.list",
        Schema96("ThemesListParams"),
        now!(|c, r| profile::themes_list(c, r)),
    ),
    m(
        "themes.get",
        Schema96("ThemesGetParams"),
        now!(|c, r| profile::themes_get(c, r)),
    ),
    m(
        "themes.set",
        Schema96("ThemesSetParams"),
        waits!(Ordered, |c, r| profile::themes_set(c, r)),
    ),
    // Settings: the config schema.
    m(
        "config.schema",
        Schema96("ConfigSchemaParams"),
        now!(|c, r| settings::schema(c, r)),
    ),
    m(
        "config.schema.lookup",
        Schema96("ConfigSchemaLookupParams"),
        now!(|c, r| settings::lookup(c, r)),
    ),
    m(
        "config.set",
        Schema96("ConfigSetParams"),
        waits!(Ordered, |c, r| config_write::set(c, r)),
    ),
    m(
        "config.apply",
        Schema96("ConfigApplyParams"),
        waits!(Ordered, |c, r| config_write::set(c, r)),
    ),
    m(
        "config.patch",
        Schema96("ConfigPatchParams"),
        waits!(Ordered, |c, r| config_write::patch(c, r)),
    ),
    // Pages of features this gateway lacks: the Node gateway's empty answers.
    m(
        "talk.catalog",
        Schema96("TalkCatalogParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "plugins.catalog.browse",
        Schema96("PluginsCatalogBrowseParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "skills.search",
        Schema96("SkillsSearchParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "tools.github.status",
        Schema96("ToolsGitHubStatusParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "users.github.status",
        Schema96("UsersGitHubStatusParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "users.listModelAccounts",
        Schema96("UsersListModelAccountsParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "doctor.memory.status",
        Observed(&["agentId", "probe"]),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "webSearch.status",
        Schema96("WebSearchStatusParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "session.members.listEvidence",
        Schema96("SessionMembersListParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "sessions.github.options",
        Schema96("SessionGitHubOptionsParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "controlUi.sessionPullRequests.subscribe",
        Observed(&["sessionKeys"]),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "voicewake.get",
        Observed(&[]),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "secrets.store.list",
        Schema96("SecretsStoreListParams"),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "plugin.surface.refresh",
        Observed(&["surface", "observedUrl"]),
        now!(|c, r| pages::empty(c, r)),
    ),
    m(
        "models.authStatus",
        Schema96("ModelsAuthStatusParams"),
        now!(|c, r| models_auth::status(c, r)),
    )
    .loose(),
    m(
        "models.authSetApiKey",
        Schema96("ModelsAuthSetApiKeyParams"),
        waits!(Ordered, |c, r| models_auth::set_api_key(c, r)),
    )
    .loose(),
    m(
        "openclaw.setup.detect",
        Schema96("SystemAgentSetupDetectParams"),
        now!(|c, r| models_auth::setup_detect(c, r)),
    ),
    m(
        "chat.metadata",
        Schema96("ChatMetadataParams"),
        now!(|c, r| models_auth::chat_metadata(c, r)),
    ),
    m(
        "device.pair.list",
        Observed(&[]),
        now!(|c, r| devices::pair_list(c, r)),
    ),
    m(
        "projects.list",
        Schema96("ProjectsListParams"),
        now!(|c, r| ui::projects(c, r)),
    ),
    // Automations.
    m(
        "cron.status",
        Schema96("CronStatusParams"),
        now!(|c, r| cron::status(c, r)),
    ),
    m(
        "cron.list",
        Schema96("CronListParams"),
        now!(|c, r| cron::list(c, r)),
    ),
    m(
        "cron.get",
        Schema96("CronGetParams"),
        now!(|c, r| cron::get(c, r)),
    ),
    m(
        "cron.add",
        Schema96("CronAddParams"),
        waits!(Ordered, |c, r| cron::add(c, r)),
    ),
    m(
        "cron.update",
        Schema96("CronUpdateParams"),
        waits!(Ordered, |c, r| cron::update(c, r)),
    ),
    m(
        "cron.remove",
        Schema96("CronRemoveParams"),
        waits!(Ordered, |c, r| cron::remove(c, r)),
    ),
    m(
        "cron.run",
        Schema96("CronRunParams"),
        waits!(Ordered, |c, r| async { cron::run(c, r) }),
    ),
    m(
        "cron.runs",
        Schema96("CronRunsParams"),
        waits!(Waits, |c, r| cron::runs(c, r)),
    ),
];
