//! The model: the exact outcome of a program, computed from the program alone.

use super::*;

// ----- the model ----------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Out {
    Ok,
    Err(Rep),
    Panic(u32),
    Killed,
}

#[derive(Clone, Debug)]
pub(crate) struct Res {
    pub(crate) out: Out,
    pub(crate) end: T,
}

pub(crate) type Model = BTreeMap<u32, Entry>;

pub(crate) fn start(m: &mut Model, id: u32, s: T) {
    m.insert(
        id,
        Entry {
            start: s,
            ..Entry::default()
        },
    );
}

pub(crate) fn end(m: &mut Model, id: u32, t: T, k: Kind) {
    m.get_mut(&id).unwrap().end = Some((t, k));
}

/// The kind a wrapper node (not a leaf) logs for an outcome.
pub(crate) fn wrapper_kind(out: &Out) -> Kind {
    match out {
        Out::Ok => Kind::Ok,
        Out::Err(r) => Kind::Err(r.clone()),
        Out::Panic(_) | Out::Killed => Kind::Dropped,
    }
}

pub(crate) fn min_opt(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Runs `n` from `s`; `k` is when an enclosing cancellation reaches it (up to a shield);
/// `eff` is the effective deadline of the context.
pub(crate) fn eval(n: &N, s: T, k: T, eff: Option<T>, m: &mut Model) -> Res {
    match n {
        N::Leaf { id, kind, d, .. } => {
            start(m, *id, s);
            // Inside a cancelled scope no time is left: the effective deadline is now.
            let eff_here = if k <= s {
                Some(eff.map_or(s, |e| e.min(s)))
            } else {
                eff
            };
            m.get_mut(id).unwrap().eff = Some(eff_here);
            let natural = s + d;
            if k < natural {
                let t = k.max(s);
                end(m, *id, t, Kind::Dropped);
                return Res {
                    out: Out::Killed,
                    end: t,
                };
            }
            let (out, kind) = match kind {
                LeafKind::Sleep => (Out::Ok, Kind::Ok),
                LeafKind::Fail => (Out::Err(Rep::Leaf(*id)), Kind::Err(Rep::Leaf(*id))),
                LeafKind::Panic => (Out::Panic(*id), Kind::Panic),
            };
            end(m, *id, natural, kind);
            Res { out, end: natural }
        }
        N::Seq(items) => {
            let mut t = s;
            for item in items {
                let r = eval(item, t, k, eff, m);
                if r.out != Out::Ok {
                    return r;
                }
                t = r.end;
            }
            Res {
                out: Out::Ok,
                end: t,
            }
        }
        N::Scope {
            id,
            deadline,
            cancel,
            shield,
            body,
        } => {
            start(m, *id, s);
            let own_dl = deadline.map(|d| s + d);
            let c_own = min_opt(own_dl, *cancel);
            let src = if own_dl.is_some() && own_dl == c_own {
                CancelSource::Deadline
            } else {
                CancelSource::Explicit
            };
            let c = c_own.unwrap_or(NEVER);
            let k_in = if *shield { c } else { k.min(c) };
            let eff_in = if *shield {
                own_dl
            } else {
                min_opt(eff, own_dl)
            };
            let r = if k_in <= s {
                // Entered inside a cancelled scope: the body is never polled.
                Res {
                    out: Out::Killed,
                    end: s,
                }
            } else {
                m.get_mut(id).unwrap().eff = Some(eff_in);
                eval(body, s, k_in, eff_in, m)
            };
            let (out, kind) = match r.out {
                // The outermost cancelled scope not behind a shield catches (Trio): this scope
                // catches its own cancellation only if no enclosing one reaches it by then.
                Out::Killed if c <= r.end && (*shield || k > r.end) => (Out::Ok, Kind::Caught(src)),
                out => {
                    let kind = wrapper_kind(&out);
                    (out, kind)
                }
            };
            end(m, *id, r.end, kind);
            Res { out, end: r.end }
        }
        N::Group { id, children, body } => {
            start(m, *id, s);
            if k <= s {
                end(m, *id, s, Kind::Dropped);
                return Res {
                    out: Out::Killed,
                    end: s,
                };
            }
            // Pass 1: when does the group cancel itself, ignoring its own cancellation?
            let mut scratch = m.clone();
            let first = run_group(children, body, s, k, eff, &mut scratch);
            let t_cancel = first.cancels.iter().copied().min().unwrap_or(NEVER);
            // Pass 2: with it.
            let g = run_group(children, body, s, k.min(t_cancel), eff, m);
            let (out, kind) = if let Some((_, p)) = g.panics.iter().min() {
                (Out::Panic(*p), Kind::Dropped)
            } else if !g.failures.is_empty() {
                let mut f = g.failures.clone();
                f.sort_by_key(|(t, _)| *t);
                let rep = Rep::Group(*id, f.into_iter().map(|(_, r)| r).collect());
                (Out::Err(rep.clone()), Kind::Err(rep))
            } else if k <= g.end {
                // An enclosing cancellation reaches the group when it exits: the outermost
                // cancelled scope catches, even if the group cancelled itself too.
                (Out::Killed, Kind::Dropped)
            } else if g.body.out == Out::Ok {
                (Out::Ok, Kind::Ok)
            } else {
                (Out::Ok, Kind::GroupCancelled)
            };
            end(m, *id, g.end, kind);
            Res { out, end: g.end }
        }
    }
}

pub(crate) struct GroupRun {
    pub(crate) end: T,
    pub(crate) body: Res,
    pub(crate) failures: Vec<(T, Rep)>,
    pub(crate) panics: Vec<(T, u32)>,
    pub(crate) cancels: Vec<T>,
}

pub(crate) fn run_group(
    children: &[C],
    body: &[S],
    s: T,
    k: T,
    eff: Option<T>,
    m: &mut Model,
) -> GroupRun {
    let mut g = GroupRun {
        end: s,
        body: Res {
            out: Out::Ok,
            end: s,
        },
        failures: Vec::new(),
        panics: Vec::new(),
        cancels: Vec::new(),
    };
    // What reaches the group from a child that belongs to it.
    fn to_group(g: &mut GroupRun, r: &Res) {
        match &r.out {
            Out::Err(rep) => {
                g.failures.push((r.end, rep.clone()));
                g.cancels.push(r.end);
            }
            Out::Panic(p) => {
                g.panics.push((r.end, *p));
                g.cancels.push(r.end);
            }
            Out::Ok | Out::Killed => {}
        }
        g.end = g.end.max(r.end);
    }
    for c in children {
        match c {
            C::Spawn { id, prog } => {
                start(m, *id, s);
                let r = eval(prog, s, k, eff, m);
                end(m, *id, r.end, wrapper_kind(&r.out));
                to_group(&mut g, &r);
            }
            C::CancelGroup { id, d } => {
                start(m, *id, s);
                let t = s + d;
                if k < t {
                    end(m, *id, k, Kind::Dropped);
                    g.end = g.end.max(k);
                } else {
                    end(m, *id, t, Kind::Ok);
                    g.cancels.push(t);
                    g.end = g.end.max(t);
                }
            }
        }
    }
    let mut t = s;
    let mut body_out = Out::Ok;
    for step in body {
        match step {
            S::Do(n) => {
                let r = eval(n, t, k, eff, m);
                t = r.end;
                if r.out != Out::Ok {
                    body_out = r.out;
                    break;
                }
            }
            S::Start {
                id,
                child,
                before,
                mode,
                after,
            } => {
                start(m, *id, t);
                if k <= t {
                    // The group is already cancelled (a shield held the body until now): the
                    // child is dropped before its first poll, start() with the body.
                    end(m, *id, t, Kind::Dropped);
                    body_out = Out::Killed;
                    break;
                }
                start(m, *child, t);
                let b = eval(before, t, k, eff, m);
                let e1 = b.end;
                // (host result: Some((time, step kind, host outcome)) or None = host killed at k)
                let mut host: Option<(T, Kind, Out)> = None;
                let child_res: Res;
                let mut child_to_group = false;
                match &b.out {
                    Out::Killed => child_res = b.clone(),
                    Out::Err(rep) => {
                        child_res = b.clone();
                        if e1 < k {
                            host = Some((e1, Kind::StartFailed(rep.clone()), Out::Ok));
                        } else {
                            child_to_group = true;
                        }
                    }
                    Out::Panic(p) => {
                        child_res = b.clone();
                        if e1 < k {
                            host = Some((e1, Kind::Dropped, Out::Panic(*p)));
                        } else {
                            child_to_group = true;
                        }
                    }
                    Out::Ok => {
                        if e1 > k {
                            // start() was dropped at k; the child was cancelled then.
                            child_res = match mode {
                                Mode::NoStarted => b.clone(),
                                _ => eval(after, e1, k, eff, m),
                            };
                            child_to_group = true;
                        } else {
                            match mode {
                                Mode::Started => {
                                    host = Some((e1, Kind::StartOk, Out::Ok));
                                    child_res = eval(after, e1, k, eff, m);
                                    child_to_group = true;
                                }
                                Mode::NoStarted => {
                                    host = Some((e1, Kind::NotStarted, Out::Ok));
                                    child_res = b.clone();
                                }
                                Mode::DropStatus => {
                                    let a = eval(after, e1, e1, eff, m);
                                    if a.end < k {
                                        host = Some(match &a.out {
                                            Out::Ok => (a.end, Kind::NotStarted, Out::Ok),
                                            Out::Err(rep) => {
                                                (a.end, Kind::StartFailed(rep.clone()), Out::Ok)
                                            }
                                            Out::Panic(p) => (a.end, Kind::Dropped, Out::Panic(*p)),
                                            Out::Killed => (a.end, Kind::StatusDropped, Out::Ok),
                                        });
                                    } else {
                                        child_to_group = true;
                                    }
                                    child_res = a;
                                }
                            }
                        }
                    }
                }
                end(m, *child, child_res.end, wrapper_kind(&child_res.out));
                if child_to_group {
                    to_group(&mut g, &child_res);
                } else {
                    g.end = g.end.max(child_res.end);
                }
                match host {
                    Some((te, kind, out)) => {
                        end(m, *id, te, kind);
                        t = te;
                        if out != Out::Ok {
                            body_out = out;
                            break;
                        }
                    }
                    None => {
                        end(m, *id, k, Kind::Dropped);
                        t = k;
                        body_out = Out::Killed;
                        break;
                    }
                }
            }
        }
    }
    g.body = Res {
        out: body_out,
        end: t,
    };
    let body = g.body.clone();
    to_group(&mut g, &body);
    g
}

/// The model's prediction for a whole program (the root is a group, with no enclosing scope).
pub(crate) fn model(root: &N) -> (Model, Out) {
    let mut m = Model::new();
    let r = eval(root, 0, NEVER, None, &mut m);
    (m, r.out)
}
