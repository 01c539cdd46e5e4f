//! The catalogue of flow-log field names, versions 2 to 10.

use std::fmt;

macro_rules! fields {
    ($( $variant:ident => $name:literal, $version:literal; )*) => {
        /// A field of the VPC Flow Logs record format, as named in a format string or header line.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Field {
            $( $variant, )*
        }

        impl Field {
            /// Every known field, in AWS's catalogue order.
            pub const ALL: &'static [Field] = &[ $( Field::$variant, )* ];

            /// The field name exactly as AWS spells it in format strings and header lines.
            pub fn name(self) -> &'static str {
                match self { $( Field::$variant => $name, )* }
            }

            /// The flow-log version that introduced the field.
            pub fn version(self) -> u8 {
                match self { $( Field::$variant => $version, )* }
            }

            /// Looks a field up by its hyphenated name (`pkt-srcaddr`) or its Parquet
            /// column name (`pkt_srcaddr`).
            pub fn from_name(name: &[u8]) -> Option<Field> {
                if name.contains(&b'_') {
                    let hyphenated: Vec<u8> = name.iter().map(|&b| if b == b'_' { b'-' } else { b }).collect();
                    return Field::from_name(&hyphenated);
                }
                match name {
                    $( n if n == $name.as_bytes() => Some(Field::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

fields! {
    Version => "version", 2;
    AccountId => "account-id", 2;
    InterfaceId => "interface-id", 2;
    SrcAddr => "srcaddr", 2;
    DstAddr => "dstaddr", 2;
    SrcPort => "srcport", 2;
    DstPort => "dstport", 2;
    Protocol => "protocol", 2;
    Packets => "packets", 2;
    Bytes => "bytes", 2;
    Start => "start", 2;
    End => "end", 2;
    Action => "action", 2;
    LogStatus => "log-status", 2;
    VpcId => "vpc-id", 3;
    SubnetId => "subnet-id", 3;
    InstanceId => "instance-id", 3;
    TcpFlags => "tcp-flags", 3;
    Type => "type", 3;
    PktSrcAddr => "pkt-srcaddr", 3;
    PktDstAddr => "pkt-dstaddr", 3;
    Region => "region", 4;
    AzId => "az-id", 4;
    SublocationType => "sublocation-type", 4;
    SublocationId => "sublocation-id", 4;
    PktSrcAwsService => "pkt-src-aws-service", 5;
    PktDstAwsService => "pkt-dst-aws-service", 5;
    FlowDirection => "flow-direction", 5;
    TrafficPath => "traffic-path", 5;
    EcsClusterArn => "ecs-cluster-arn", 7;
    EcsClusterName => "ecs-cluster-name", 7;
    EcsContainerInstanceArn => "ecs-container-instance-arn", 7;
    EcsContainerInstanceId => "ecs-container-instance-id", 7;
    EcsContainerId => "ecs-container-id", 7;
    EcsSecondContainerId => "ecs-second-container-id", 7;
    EcsServiceName => "ecs-service-name", 7;
    EcsTaskDefinitionArn => "ecs-task-definition-arn", 7;
    EcsTaskArn => "ecs-task-arn", 7;
    EcsTaskId => "ecs-task-id", 7;
    RejectReason => "reject-reason", 8;
    ResourceId => "resource-id", 9;
    EncryptionStatus => "encryption-status", 10;
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::DEFAULT_V2;

    #[test]
    fn names_round_trip() {
        for &field in Field::ALL {
            assert_eq!(Field::from_name(field.name().as_bytes()), Some(field));
            let underscored = field.name().replace('-', "_");
            assert_eq!(Field::from_name(underscored.as_bytes()), Some(field));
        }
        assert_eq!(Field::from_name(b"tgw-id"), None);
        assert_eq!(Field::from_name(b""), None);
    }

    #[test]
    fn versions_match_the_catalogue() {
        assert_eq!(Field::LogStatus.version(), 2);
        assert_eq!(Field::PktSrcAddr.version(), 3);
        assert_eq!(Field::AzId.version(), 4);
        assert_eq!(Field::TrafficPath.version(), 5);
        assert_eq!(Field::EcsTaskId.version(), 7);
        assert_eq!(Field::RejectReason.version(), 8);
        assert_eq!(DEFAULT_V2.len(), 14);
    }
}
