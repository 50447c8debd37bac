//! The hub's subscriber list: an immutable snapshot made of chunks of at most [`CHUNK`]
//! subscribers, so a join or a leave copies one chunk and the list of chunk pointers
//! instead of every subscriber (with 19k sockets a full copy cost a clone and a drop of
//! 19k `Arc`s per connect and per disconnect). Who may see an event, and publishing, are
//! the hub's ([`super::Hub`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::Subscriber;

/// Most subscribers in one chunk of the snapshot.
pub const CHUNK: usize = 256;
/// A chunk that a leave brings to this size or below is merged with a neighbour that has
/// room for it. So no two neighbouring chunks are both this small, and churn cannot leave
/// the list as many near-empty chunks: it has at most about `2 × subscribers / MERGE_AT`
/// chunks (each leave copies the chunk pointers, so their number is a leave's cost).
pub const MERGE_AT: usize = CHUNK / 4;

/// A run of subscribers; `id` names it across snapshots (a rebuilt chunk keeps its id).
#[derive(Debug)]
struct Chunk {
    id: u64,
    subs: Vec<Arc<Subscriber>>,
}

/// One immutable view of every subscriber (publishers iterate it without a lock).
#[derive(Debug, Default)]
pub struct Subs {
    chunks: Vec<Arc<Chunk>>,
    len: usize,
}

impl Subs {
    /// Every subscriber, in join order within each chunk.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Subscriber>> {
        self.chunks.iter().flat_map(|c| c.subs.iter())
    }

    /// Number of subscribers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What only the snapshot's writers touch (under the hub's write lock): which chunk holds
/// each connection.
#[derive(Debug, Default)]
pub struct Index {
    chunk_of: HashMap<u64, u64>,
    next_id: u64,
}

impl Index {
    /// `cur` with `sub` added (to the last chunk while it has room).
    pub fn join(&mut self, cur: &Subs, sub: Arc<Subscriber>) -> Subs {
        let mut chunks = cur.chunks.clone();
        let conn = sub.conn;
        let id = match chunks.last_mut() {
            Some(last) if last.subs.len() < CHUNK => {
                let mut subs = Vec::with_capacity(last.subs.len() + 1);
                subs.extend(last.subs.iter().cloned());
                subs.push(sub);
                *last = Arc::new(Chunk { id: last.id, subs });
                last.id
            }
            _ => {
                self.next_id += 1;
                let id = self.next_id;
                chunks.push(Arc::new(Chunk {
                    id,
                    subs: vec![sub],
                }));
                id
            }
        };
        self.chunk_of.insert(conn, id);
        Subs {
            chunks,
            len: cur.len + 1,
        }
    }

    /// `cur` without connection `conn`; `None` when it is not there.
    pub fn leave(&mut self, cur: &Subs, conn: u64) -> Option<Subs> {
        let id = self.chunk_of.remove(&conn)?;
        let at = cur.chunks.iter().position(|c| c.id == id)?;
        let mut chunks = cur.chunks.clone();
        let subs: Vec<_> = chunks[at]
            .subs
            .iter()
            .filter(|s| s.conn != conn)
            .cloned()
            .collect();
        if subs.is_empty() {
            chunks.remove(at);
        } else if subs.len() <= MERGE_AT {
            self.merge(&mut chunks, at, subs);
        } else {
            chunks[at] = Arc::new(Chunk { id, subs });
        }
        Some(Subs {
            chunks,
            len: cur.len - 1,
        })
    }

    /// Put `subs` (what is left of chunk `at`) into a neighbour with room for them, or back
    /// at `at` when neither has room.
    fn merge(&mut self, chunks: &mut Vec<Arc<Chunk>>, at: usize, subs: Vec<Arc<Subscriber>>) {
        let fits = |i: usize| chunks[i].subs.len() + subs.len() <= CHUNK;
        let into = match (at.checked_sub(1), at + 1 < chunks.len()) {
            (Some(left), _) if fits(left) => left,
            (_, true) if fits(at + 1) => at + 1,
            _ => {
                chunks[at] = Arc::new(Chunk {
                    id: chunks[at].id,
                    subs,
                });
                return;
            }
        };
        let host = &chunks[into];
        let host_id = host.id;
        for s in &subs {
            self.chunk_of.insert(s.conn, host_id);
        }
        // The moved subscribers go in by value; only the host's are cloned.
        let mut merged = Vec::with_capacity(host.subs.len() + subs.len());
        if into < at {
            merged.extend(host.subs.iter().cloned());
            merged.extend(subs);
        } else {
            merged.extend(subs);
            merged.extend(host.subs.iter().cloned());
        }
        chunks[into] = Arc::new(Chunk {
            id: host_id,
            subs: merged,
        });
        chunks.remove(at);
    }

    /// The subscriber of connection `conn` in `cur`.
    pub fn find(&self, cur: &Subs, conn: u64) -> Option<Arc<Subscriber>> {
        let id = self.chunk_of.get(&conn)?;
        let chunk = cur.chunks.iter().find(|c| c.id == *id)?;
        chunk.subs.iter().find(|s| s.conn == conn).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_net::Outbound;

    fn sub(conn: u64) -> Arc<Subscriber> {
        Arc::new(Subscriber {
            conn,
            out: Outbound::new(1 << 16),
            scopes: Default::default(),
            operator: true,
            device: None,
            approval_client: false,
        })
    }

    fn conns(s: &Subs) -> Vec<u64> {
        s.iter().map(|s| s.conn).collect()
    }

    #[test]
    fn joins_fill_chunks_and_leaves_touch_one_chunk_and_keep_the_others_shared() {
        let mut ix = Index::default();
        let mut cur = Subs::default();
        let n = CHUNK as u64 * 2 + 10;
        for c in 0..n {
            cur = ix.join(&cur, sub(c));
        }
        assert_eq!(cur.len(), n as usize);
        assert_eq!(cur.chunks.len(), 3, "two full chunks and a partial one");
        assert_eq!(conns(&cur), (0..n).collect::<Vec<_>>());
        let before = Subs {
            chunks: cur.chunks.clone(),
            len: cur.len,
        };
        cur = ix.leave(&cur, 5).unwrap();
        assert_eq!(cur.len(), n as usize - 1);
        assert!(!conns(&cur).contains(&5));
        assert!(
            !Arc::ptr_eq(&cur.chunks[0], &before.chunks[0]),
            "the leaver's chunk is rebuilt"
        );
        assert!(
            Arc::ptr_eq(&cur.chunks[1], &before.chunks[1]),
            "the rest are shared"
        );
        assert!(Arc::ptr_eq(&cur.chunks[2], &before.chunks[2]));
        assert!(ix.leave(&cur, 5).is_none(), "a second leave finds nothing");
        assert_eq!(ix.find(&cur, 300).map(|s| s.conn), Some(300));
        assert!(ix.find(&cur, 5).is_none());
    }

    #[test]
    fn an_emptied_chunk_goes_and_joins_go_on_at_the_end() {
        let mut ix = Index::default();
        let mut cur = Subs::default();
        for c in 0..CHUNK as u64 + 1 {
            cur = ix.join(&cur, sub(c));
        }
        cur = ix.leave(&cur, CHUNK as u64).unwrap();
        assert_eq!(cur.chunks.len(), 1, "the second chunk held one and is gone");
        cur = ix.join(&cur, sub(1000));
        assert_eq!(cur.chunks.len(), 2, "the first is full: a new chunk");
        for c in 0..CHUNK as u64 {
            cur = ix.leave(&cur, c).unwrap();
        }
        assert_eq!(conns(&cur), vec![1000]);
        assert!(ix.find(&cur, 1000).is_some());
    }

    /// Leaves that thin every chunk out merge them: one subscriber left per chunk of 256
    /// used to keep every chunk.
    #[test]
    fn thinned_out_chunks_merge() {
        let mut ix = Index::default();
        let mut cur = Subs::default();
        let n = CHUNK as u64 * 8;
        for c in 0..n {
            cur = ix.join(&cur, sub(c));
        }
        for c in (0..n).filter(|c| c % CHUNK as u64 != 0) {
            cur = ix.leave(&cur, c).unwrap();
        }
        assert_eq!(cur.len(), 8);
        assert_eq!(cur.chunks.len(), 1, "{:?}", sizes(&cur));
        let mut left = conns(&cur);
        left.sort_unstable();
        assert_eq!(left, (0..8).map(|i| i * CHUNK as u64).collect::<Vec<_>>());
        for c in left {
            assert_eq!(ix.find(&cur, c).map(|s| s.conn), Some(c));
        }
    }

    fn sizes(s: &Subs) -> Vec<usize> {
        s.chunks.iter().map(|c| c.subs.len()).collect()
    }

    /// Random joins and leaves against a plain set: the same members, every member found
    /// through the index, no chunk over [`CHUNK`], and never two small neighbours.
    #[test]
    fn churn_keeps_members_index_and_chunk_bounds() {
        let mut ix = Index::default();
        let mut cur = Subs::default();
        let mut model = std::collections::BTreeSet::new();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = 0u64;
        for step in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Grow towards ~1500 members, then churn around it.
            let join = model.len() < 200 || (rng % 100 < 48 && model.len() < 3000);
            if join {
                next += 1;
                cur = ix.join(&cur, sub(next));
                model.insert(next);
            } else {
                let nth = (rng >> 8) as usize % model.len();
                let c = *model.iter().nth(nth).unwrap();
                cur = ix.leave(&cur, c).unwrap();
                model.remove(&c);
            }
            assert_eq!(cur.len(), model.len(), "step {step}");
            let sz = sizes(&cur);
            assert!(
                sz.iter().all(|&n| n > 0 && n <= CHUNK),
                "step {step}: {sz:?}"
            );
            assert!(
                sz.windows(2).all(|w| w[0] > MERGE_AT || w[1] > MERGE_AT),
                "step {step}: two small neighbours in {sz:?}"
            );
            if step % 500 == 0 {
                let mut got = conns(&cur);
                got.sort_unstable();
                assert_eq!(
                    got,
                    model.iter().copied().collect::<Vec<_>>(),
                    "step {step}"
                );
                for &c in &model {
                    assert_eq!(ix.find(&cur, c).map(|s| s.conn), Some(c), "step {step}");
                }
            }
        }
    }
}
