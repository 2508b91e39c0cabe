//! What the three Redis targets answer alike as targets.

/// The [`Target`](crate::target::Target) methods the three Redis targets
/// answer alike, expanded inside their `impl Target` blocks (a target struct
/// with a `persistence` field): one node image, one data directory, the
/// faults [`fault`] allows. `one_server_per_node` adds the command of a
/// plain redis-server on every node (a `layout` field too). A macro, not a
/// trait, because these are methods of `Target` itself.
macro_rules! redis_target_methods {
    () => {
        fn version_command(&self) -> Vec<String> {
            super::recipe::version_command()
        }

        fn packages(&self) -> Vec<String> {
            super::deploy::packages()
        }

        fn data_dir(&self) -> Option<String> {
            Some(super::deploy::DATA_DIR.to_string())
        }

        fn fault(&self, fault: splitbrain_vocab::FaultKind) -> crate::target::Applies {
            super::deploy::fault(self.persistence, fault)
        }
    };
    (one_server_per_node) => {
        fn service(
            &self,
            node: &crate::target::NodeAddr,
            _nodes: &[crate::target::NodeAddr],
        ) -> crate::target::ServiceCommand {
            super::recipe::server_command(&self.layout, node, self.persistence)
        }

        super::target_methods::redis_target_methods!();
    };
}
pub(crate) use redis_target_methods;
