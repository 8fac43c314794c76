//! Benchmark ids built from the typed registries — [`Group`] and each workload's function enum
//! — for the readers that name benchmarks (compare's ratio metrics, the findings' claims): a
//! renamed group, function or model is a compile error there, not a silently missing result.

use crate::blocks::ctx_switch::Switch;
use crate::blocks::event_scan::Waiter;
use crate::blocks::models::{Serving, ShopModel, Split};
use crate::blocks::spawn::Creation;
use crate::blocks::sync::{Layout, QueueFn, SyncFn};
use crate::ids::Group;
use crate::reference::RefServer;
use crate::server::Model;

/// The function part of a benchmark id: one of the workloads' enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Creation(Creation),
    Switch(Switch),
    Sync(SyncFn),
    Layout(Layout),
    Queue(QueueFn),
    Waiter(Waiter),
    Shop(ShopModel),
    Serving(Serving),
    Split(Split),
    Model(Model),
    Reference(RefServer),
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Creation(f) => f.name(),
            Function::Switch(f) => f.name(),
            Function::Sync(f) => f.name(),
            Function::Layout(f) => f.name(),
            Function::Queue(f) => f.name(),
            Function::Waiter(f) => f.name(),
            Function::Shop(f) => f.name(),
            Function::Serving(f) => f.name(),
            Function::Split(f) => f.name(),
            Function::Model(f) => f.name(),
            Function::Reference(f) => f.name(),
        }
    }
}

macro_rules! function_from {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for Function {
            fn from(f: $t) -> Function {
                Function::$v(f)
            }
        })*
    };
}

function_from!(
    Creation => Creation, Switch => Switch, SyncFn => Sync, Layout => Layout, QueueFn => Queue,
    Waiter => Waiter, ShopModel => Shop, Serving => Serving, Split => Split, Model => Model,
    RefServer => Reference,
);

/// One benchmark: group, function and (for swept groups) parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchRef {
    pub group: Group,
    pub function: Function,
    pub param: Option<u64>,
}

impl BenchRef {
    /// `group/function[/param]`.
    pub fn id(&self) -> String {
        self.group.id(self.function.name(), self.param)
    }
}

/// The id of `function` in `group` at `param`.
pub fn id(group: Group, function: impl Into<Function>, param: Option<u64>) -> String {
    group.id(function.into().name(), param)
}

impl std::fmt::Display for BenchRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

impl serde::Serialize for BenchRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_spell_as_the_benches_register_them() {
        assert_eq!(
            id(Group::Spawn, Creation::ForkExitWait, None),
            "spawn/fork_exit_wait"
        );
        assert_eq!(
            id(Group::ServerConns, Model::Sped, Some(64)),
            "server_conns/sped/64"
        );
        let r = BenchRef {
            group: Group::EventScanFds,
            function: Function::Waiter(Waiter::Poll),
            param: Some(1000),
        };
        assert_eq!(
            serde_json::to_string(&r).expect("json"),
            "\"event_scan_fds/poll/1000\""
        );
    }
}
