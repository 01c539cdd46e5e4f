//! AWS adapters: the S3 source, the SQS notification consumer and the CloudWatch publisher.
