//! A connection with independent read and write halves (for open-loop load, where sends follow a
//! schedule while responses are read concurrently; fastwebsockets' `read_frame` is not cancel-safe,
//! so one task cannot `select!` between reading and a send timer).

use anyhow::{anyhow, bail, Context, Result};
use fastwebsockets::{
    after_handshake_split, FragmentCollectorRead, Frame, OpCode, Payload, Role, WebSocketWrite,
};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;

use crate::client::{connect_reply, is_hello, read_upgrade_response, upgrade_request, ClientCfg};

/// Read half (pongs owed to the server are not sent: runs are short).
pub type Rd = FragmentCollectorRead<BufReader<OwnedReadHalf>>;
/// Write half.
pub type Wr = WebSocketWrite<OwnedWriteHalf>;

/// Open + upgrade + protocol handshake, bounded by `cfg.timeout`; returns the two halves.
pub async fn connect(cfg: &ClientCfg) -> Result<(Rd, Wr)> {
    timeout(cfg.timeout, async {
        let (r, mut w) = cfg.tcp().await?.into_split();
        w.write_all(upgrade_request(cfg.port).as_bytes()).await?;
        let mut r = BufReader::with_capacity(4096, r);
        read_upgrade_response(&mut r).await?;
        let (rd, mut wr) = after_handshake_split(r, w, Role::Client);
        let mut rd = FragmentCollectorRead::new(rd);
        let first = read_text(&mut rd).await?;
        send_text(&mut wr, connect_reply(cfg, &first)?.into_bytes()).await?;
        while !is_hello(&read_text(&mut rd).await?)? {}
        Ok((rd, wr))
    })
    .await
    .map_err(|_| anyhow!("handshake timed out after {:?}", cfg.timeout))?
}

/// Next text frame (close is an error).
pub async fn read_text(rd: &mut Rd) -> Result<Vec<u8>> {
    loop {
        let f = rd
            .read_frame(&mut |_| async { Ok::<(), std::io::Error>(()) })
            .await
            .context("ws read")?;
        match f.opcode {
            OpCode::Text => return Ok(f.payload.into()),
            OpCode::Close => bail!("closed by server"),
            _ => {}
        }
    }
}

/// Send one text frame.
pub async fn send_text(wr: &mut Wr, bytes: Vec<u8>) -> Result<()> {
    wr.write_frame(Frame::text(Payload::Owned(bytes)))
        .await
        .context("ws write")
}

/// Send close 1000 (best effort).
pub async fn close(wr: &mut Wr) {
    let _ = wr.write_frame(Frame::close(1000, b"")).await;
}
