//! The proptest generators of random programs.

use super::*;

// ----- generators ---------------------------------------------------------------------------------

pub(crate) fn rank() -> impl Strategy<Value = T> {
    0..64u64
}

pub(crate) fn leaf() -> impl Strategy<Value = N> {
    let kind = prop_oneof![
        6 => Just(LeafKind::Sleep),
        3 => Just(LeafKind::Fail),
        1 => Just(LeafKind::Panic),
    ];
    let io = prop_oneof![
        6 => Just(Io::None),
        3 => Just(Io::Recv),
        3 => (1..4u8).prop_map(Io::Send),
        1 => Just(Io::CloseSender),
        1 => Just(Io::CloseReceiver),
    ];
    (kind, rank(), io).prop_map(|(kind, d, io)| N::Leaf { id: 0, kind, d, io })
}

pub(crate) fn child(prog: BoxedStrategy<N>) -> impl Strategy<Value = C> {
    prop_oneof![
        4 => prog.prop_map(|prog| C::Spawn { id: 0, prog }),
        1 => rank().prop_map(|d| C::CancelGroup { id: 0, d }),
    ]
}

pub(crate) fn step(prog: BoxedStrategy<N>) -> impl Strategy<Value = S> {
    let mode = prop_oneof![
        Just(Mode::Started),
        Just(Mode::NoStarted),
        Just(Mode::DropStatus)
    ];
    prop_oneof![
        2 => prog.clone().prop_map(S::Do),
        1 => (prog.clone(), mode, prog).prop_map(|(before, mode, after)| S::Start {
            id: 0,
            child: 0,
            before,
            mode,
            after,
        }),
    ]
}

pub(crate) fn group(prog: BoxedStrategy<N>) -> impl Strategy<Value = N> {
    (
        prop::collection::vec(child(prog.clone()), 0..4),
        prop::collection::vec(step(prog), 1..3),
    )
        .prop_map(|(children, body)| N::Group {
            id: 0,
            children,
            body,
        })
}

pub(crate) fn prog() -> BoxedStrategy<N> {
    leaf()
        .prop_recursive(3, 20, 3, |inner| {
            let inner = inner.boxed();
            prop_oneof![
                2 => prop::collection::vec(inner.clone(), 1..4).prop_map(N::Seq),
                3 => (
                    prop::option::weighted(0.5, rank()),
                    prop::option::weighted(0.3, rank()),
                    prop::bool::weighted(0.3),
                    inner.clone(),
                )
                    .prop_map(|(deadline, cancel, shield, body)| N::Scope {
                        id: 0,
                        deadline,
                        cancel,
                        shield,
                        body: Box::new(body),
                    }),
                2 => group(inner),
            ]
        })
        .boxed()
}

pub(crate) fn random_program() -> impl Strategy<Value = N> {
    group(prog())
        .prop_filter("at most MAX_EVENTS timed events", |n| {
            count_events(n) <= MAX_EVENTS
        })
        .prop_map(|mut n| {
            number(&mut n);
            n
        })
}

pub(crate) fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}
