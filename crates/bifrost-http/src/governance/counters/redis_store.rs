//! The counters in Redis: connection, batched reconciliation, `EVALSHA` and the Lua scripts.

use super::*;

pub(super) struct RedisCounters {
    pub(super) conn: ConnectionManager,
    pub(super) reserve: Arc<redis::Script>,
    pub(super) settle: Arc<redis::Script>,
    pub(super) settle_tx: tokio::sync::mpsc::UnboundedSender<Vec<Settle>>,
}

/// Sends queued reconciliations, merged per counter, one script call per batch.
pub(super) async fn flush_loop(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<Settle>>,
    mut conn: ConnectionManager,
    script: Arc<redis::Script>,
    failures: Arc<AtomicU64>,
    queue: Arc<Queue>,
) {
    {
        while let Some(first) = rx.recv().await {
            let mut batches = 1;
            // (key base, window start) → (delta, ttl): requests on one counter merge first.
            let mut adds: FastMap<(Arc<str>, i64), (i64, i64)> = FastMap::default();
            let mut leases: Vec<(Arc<str>, String)> = Vec::new();
            let mut take = |items: Vec<Settle>| {
                for it in items {
                    match it {
                        Settle::Add { spec, start, delta } => {
                            let slot = adds
                                .entry((spec.base.clone(), start))
                                .or_insert((0, spec.window.ttl_secs()));
                            slot.0 += delta;
                        }
                        Settle::Lease(k, m) => leases.push((k, m)),
                    }
                }
            };
            take(first);
            while batches < 512 {
                match rx.try_recv() {
                    Ok(items) => {
                        take(items);
                        batches += 1;
                    }
                    Err(_) => break,
                }
            }
            let mut cmd = evalsha_cmd(&script);
            for ((base, start), (d, ttl)) in &adds {
                if *d != 0 {
                    cmd.arg(window_key(base, *start)).arg(*d).arg(*ttl);
                }
            }
            for (k, m) in &leases {
                cmd.arg(&**k).arg(m).arg(-1);
            }
            let done =
                tokio::time::timeout(REDIS_TIMEOUT * 4, evalsha::<i64>(&mut conn, &script, &cmd))
                    .await;
            if !matches!(done, Ok(Ok(_))) {
                failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "governance: reconciling usage in Redis failed; the reservations stand"
                );
            }
            queue.done(batches);
        }
    }
}

/// One reconciliation for Redis: add `delta` to a limit's counter of the window starting at
/// `start`, or return a lease (the lease set's key, the member).
pub(super) enum Settle {
    Add {
        spec: LimitSpec,
        start: i64,
        delta: i64,
    },
    Lease(Arc<str>, String),
}

/// A reserved counter's key in Redis: the lease set, or the window's counter.
pub(super) fn redis_key(spec: &LimitSpec, window_start: i64) -> String {
    if spec.kind == Kind::Concurrency {
        return spec.base.to_string();
    }
    window_key(&spec.base, window_start)
}

/// A window's counter: `base:window_start`, without a formatter.
fn window_key(base: &str, window_start: i64) -> String {
    let mut n = itoa::Buffer::new();
    let n = n.format(window_start);
    let mut key = String::with_capacity(base.len() + 1 + n.len());
    key.push_str(base);
    key.push(':');
    key.push_str(n);
    key
}

/// `EVALSHA <script> 0`, to which the call's arguments are added (written once, integers as
/// integers: no `ScriptInvocation` copies), sized for a request's few counters.
pub(super) fn evalsha_cmd(script: &redis::Script) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(32, 512);
    cmd.arg("EVALSHA").arg(script.get_hash()).arg(0);
    cmd
}

/// Runs `cmd`; on NOSCRIPT (a Redis that restarted or was flushed) loads the script and runs it
/// again.
pub(super) async fn evalsha<T: redis::FromRedisValue>(
    conn: &mut ConnectionManager,
    script: &redis::Script,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    match cmd.query_async(conn).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.load_async(conn).await?;
            cmd.query_async(conn).await
        }
        r => r,
    }
}

/// Check and reserve every counter, or none. ARGV: the lease member, the lease in ms, then
/// `"{limit} {window} {amount};"` for each counter (window: `s<secs>`, `w<weeks>`, `M<months>`,
/// `c` for a lease set), then each counter's key base. One packed argument and one string
/// answer, because each argument and each reply value costs the gateway about as much to
/// write or parse as the script costs Redis to run: `"1 {now_s} {used} …"` — Redis's clock,
/// from which the gateway places each window as this script did (`Window::bounds`, the same
/// algorithm; the key is `base:window_start`) — or `"0 {index} {retry_ms} {used}"`.
pub(super) const RESERVE_LUA: &str = r#"
-- bf_gov_reserve_v4
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mm = (m > 2) and (m - 3) or (m + 9)
  local doy = math.floor((153 * mm + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = (mp < 10) and (mp + 3) or (mp - 9)
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end
local function bounds(kind, n, now)
  if kind == 's' then
    local s = now - (now % n)
    return s, s + n
  elseif kind == 'w' then
    local p = 604800 * n
    local s = now - ((now - 345600) % p)
    return s, s + p
  else
    local y, m = civil_from_days(math.floor(now / 86400))
    local idx = y * 12 + (m - 1)
    local s = idx - (idx % n)
    local e = s + n
    return days_from_civil(math.floor(s / 12), (s % 12) + 1, 1) * 86400,
           days_from_civil(math.floor(e / 12), (e % 12) + 1, 1) * 86400
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1])
local now_ms = now * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = ARGV[1]
local lease = tonumber(ARGV[2])
local plan = {}
local out = {'1', string.format('%d', now)}
local i = 0
for limit, spec, amount in string.gmatch(ARGV[3], '(%-?%d+) (%a%d*) (%-?%d+);') do
  local base = ARGV[4 + i]
  limit = tonumber(limit)
  amount = tonumber(amount)
  local kind = string.sub(spec, 1, 1)
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', base, '-inf', now_ms)
    local used = redis.call('ZCARD', base)
    if used + 1 > limit then return string.format('0 %d 1000 %d', i, used) end
    plan[#plan + 1] = {'c', base}
    out[#out + 1] = string.format('%d', used + 1)
  else
    local ws, we = bounds(kind, tonumber(string.sub(spec, 2)), now)
    local key = base .. ':' .. ws
    local raw = redis.call('GET', key)
    local used = tonumber(raw or '0')
    if used >= limit or used + amount > limit then
      return string.format('0 %d %d %d', i, we * 1000 - now_ms, used)
    end
    -- A counter this request creates gets its expiry (no TTL call for one that exists).
    plan[#plan + 1] = {'w', key, amount, (not raw) and (we - ws) * 2}
    out[#out + 1] = string.format('%d', used + amount)
  end
  i = i + 1
end
for _, p in ipairs(plan) do
  if p[1] == 'c' then
    redis.call('ZADD', p[2], now_ms + lease, member)
    redis.call('PEXPIRE', p[2], lease * 2)
  elseif p[3] ~= 0 then
    redis.call('INCRBY', p[2], p[3])
    if p[4] then redis.call('EXPIRE', p[2], p[4]) end
  end
end
return table.concat(out, ' ')
"#;

/// The reserve script's packed argument: `"{limit} {window} {amount};"` per counter.
pub(super) fn reserve_arg(checks: &[Check]) -> String {
    let mut arg = String::with_capacity(checks.len() * 40);
    let mut n = itoa::Buffer::new();
    for c in checks {
        arg.push_str(&c.spec.script_arg);
        arg.push(' ');
        arg.push_str(n.format(c.amount));
        arg.push(';');
    }
    arg
}

/// The reserve script's answer: integers separated by spaces, in one string.
pub(super) struct Ints(pub Vec<i64>);

impl redis::FromRedisValue for Ints {
    fn from_redis_value(v: redis::Value) -> Result<Self, redis::ParsingError> {
        let bad = || redis::ParsingError::from(format!("integers expected, not {v:?}"));
        let text = match &v {
            redis::Value::BulkString(b) => b.as_slice(),
            redis::Value::SimpleString(s) => s.as_bytes(),
            _ => return Err(bad()),
        };
        // By hand: every reserve reads this (no char searcher, one allocation).
        let mut out = Vec::with_capacity(8);
        for n in text.split(|&b| b == b' ') {
            let (sign, digits) = match n.split_first() {
                Some((b'-', rest)) => (-1, rest),
                _ => (1, n),
            };
            if digits.is_empty() {
                return Err(bad());
            }
            let mut acc: i64 = 0;
            for &d in digits {
                acc = match d.checked_sub(b'0') {
                    Some(d) if d <= 9 => acc
                        .checked_mul(10)
                        .and_then(|a| a.checked_add(i64::from(d)))
                        .ok_or_else(bad)?,
                    _ => return Err(bad()),
                };
            }
            out.push(sign * acc);
        }
        Ok(Ints(out))
    }
}

/// Reconcile: ARGV triples: (key, delta, ttl) adds to a counter; (key, member, -1) returns a
/// lease.
pub(super) const SETTLE_LUA: &str = r#"
-- bf_gov_settle_v3
local i = 1
while ARGV[i] do
  local key, v, ttl = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if ttl == -1 then
    redis.call('ZREM', key, v)
  else
    local delta = tonumber(v)
    -- A counter whose window expired comes back as `delta` alone: it gets its expiry again
    -- (one that is at 0 gets it renewed, which is harmless), with no TTL call per counter.
    if delta ~= 0 and redis.call('INCRBY', key, delta) == delta then
      redis.call('EXPIRE', key, ttl)
    end
  end
  i = i + 3
end
return 1
"#;
