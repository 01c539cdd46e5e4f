# Rewrites a gen_bench version-2 text object (header first) in the simulator's v5 custom
# field order (27 fields), for measuring the reader on a non-default header:
#   awk -f bench/v5_order.awk IN.log > OUT.log
# The added fields are filled deterministically from the line number and the v2 values.
NR == 1 {
    print "version account-id region az-id vpc-id subnet-id instance-id interface-id flow-direction traffic-path srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport dstport protocol tcp-flags type packets bytes start end action log-status pkt-src-aws-service pkt-dst-aws-service"
    next
}
{
    instance = $3
    sub("eni-", "i-", instance)
    direction = (NR % 2) ? "ingress" : "egress"
    path = (NR % 2) ? "-" : "1"
    service = (NR % 7 == 0) ? "S3" : "-"
    flags = ($8 == "-") ? "-" : (NR % 5)
    type = ($4 == "-") ? "-" : "IPv4"
    print 5, $2, "us-east-1", "use1-az4", "vpc-0a1b2c3d4e5f60718", "subnet-0fedcba9876543210", instance, $3, direction, path, $4, $5, $4, $5, $6, $7, $8, flags, type, $9, $10, $11, $12, $13, $14, "-", service
}
