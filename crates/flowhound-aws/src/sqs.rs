//! S3 event notifications through SQS: pure parsing of message bodies, and a
//! long-polling consumer that extends visibility while an object is processed and
//! deletes a message only when the caller says so (after its checkpoint).
//!
//! Bodies understood ([`parse_body`]):
//! - S3 notifications (`{"Records":[…]}`); object keys are form-URL-encoded (`+` is a
//!   space, `%3D` is `=`) and decoded here; only `ObjectCreated:*` records are kept;
//! - the `s3:TestEvent` S3 sends when a notification is configured ([`Notification::Test`]);
//! - the same wrapped in an SNS envelope (`"Type":"Notification"`, no raw delivery);
//! - EventBridge `Object Created` events from `aws.s3` (keys taken literally: AWS does
//!   not document them as encoded).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde::Serialize;
use serde_json::Value;

use crate::retry::{self, RetryPolicy};

/// An object that was created, as a notification tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectEvent {
    pub bucket: String,
    /// Decoded key, ready for `GetObject`.
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    /// Orders events for the same key.
    pub sequencer: Option<String>,
    /// `ObjectCreated:Put`, or `Object Created` for EventBridge.
    pub event_name: String,
    pub event_time: Option<String>,
}

impl ObjectEvent {
    /// `s3://bucket/key`, as the S3 source names objects.
    pub fn url(&self) -> String {
        crate::s3::object_url(&self.bucket, &self.key)
    }
}

/// What a message body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Objects were created (at least one).
    Objects(Vec<ObjectEvent>),
    /// S3's test event: delete the message and move on.
    Test,
    /// A well-formed message about something else (other event types, other sources).
    Ignored { reason: String },
}

/// A body that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    #[error("malformed S3 event: {0}")]
    Malformed(String),
    #[error("object key {key:?} is not valid URL encoding: {reason}")]
    BadKey { key: String, reason: &'static str },
}

/// Decodes an S3 event key: form encoding (`+` → space, then `%XX`), UTF-8 result.
pub fn decode_event_key(raw: &str) -> Result<String, EventError> {
    let bad = |reason| EventError::BadKey { key: raw.to_string(), reason };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(|| bad("truncated %-escape"))?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad("invalid %-escape"))?;
                let byte = u8::from_str_radix(hex, 16).map_err(|_| bad("invalid %-escape"))?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let key = String::from_utf8(out).map_err(|_| bad("not UTF-8 once decoded"))?;
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    Ok(key)
}

/// Parses an SQS message body (pure).
pub fn parse_body(body: &str) -> Result<Notification, EventError> {
    let value: Value = serde_json::from_str(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    parse_value(&value, 0)
}

fn parse_value(value: &Value, depth: u8) -> Result<Notification, EventError> {
    let Some(obj) = value.as_object() else {
        return Err(EventError::Malformed("body is not a JSON object".into()));
    };
    if let Some(records) = obj.get("Records") {
        return parse_records(records);
    }
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    if obj.get("Type").and_then(Value::as_str) == Some("Notification") && depth == 0 {
        let message = obj
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| EventError::Malformed("SNS envelope without a Message string".into()))?;
        let inner: Value = serde_json::from_str(message).map_err(|e| EventError::NotJson(e.to_string()))?;
        return parse_value(&inner, depth + 1);
    }
    if let Some(detail_type) = obj.get("detail-type").and_then(Value::as_str) {
        return parse_eventbridge(obj, detail_type);
    }
    Ok(Notification::Ignored { reason: "not an S3 event notification".into() })
}

fn parse_records(records: &Value) -> Result<Notification, EventError> {
    let records = records.as_array().ok_or_else(|| EventError::Malformed("Records is not an array".into()))?;
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for record in records {
        let source = str_at(record, &["eventSource"]).unwrap_or("");
        let name = str_at(record, &["eventName"]).unwrap_or("");
        if source != "aws:s3" {
            skipped.push(format!("event source {source:?}"));
            continue;
        }
        let major = str_at(record, &["eventVersion"]).and_then(|v| v.split('.').next()).unwrap_or("2");
        if major != "2" {
            return Err(EventError::Malformed(format!("unsupported eventVersion major {major}")));
        }
        // eventName comes without the "s3:" prefix in notifications; accept both.
        let bare = name.strip_prefix("s3:").unwrap_or(name);
        if !bare.starts_with("ObjectCreated:") {
            skipped.push(format!("event {name:?}"));
            continue;
        }
        let bucket = str_at(record, &["s3", "bucket", "name"])
            .ok_or_else(|| EventError::Malformed("record without s3.bucket.name".into()))?;
        let raw_key = str_at(record, &["s3", "object", "key"])
            .ok_or_else(|| EventError::Malformed("record without s3.object.key".into()))?;
        objects.push(ObjectEvent {
            bucket: bucket.to_string(),
            key: decode_event_key(raw_key)?,
            size: at(record, &["s3", "object", "size"]).and_then(Value::as_u64),
            etag: str_at(record, &["s3", "object", "eTag"]).map(str::to_string),
            version_id: str_at(record, &["s3", "object", "versionId"]).map(str::to_string),
            sequencer: str_at(record, &["s3", "object", "sequencer"]).map(str::to_string),
            event_name: bare.to_string(),
            event_time: str_at(record, &["eventTime"]).map(str::to_string),
        });
    }
    if objects.is_empty() {
        let reason = if skipped.is_empty() { "no records".to_string() } else { skipped.join(", ") };
        return Ok(Notification::Ignored { reason });
    }
    Ok(Notification::Objects(objects))
}

fn parse_eventbridge(obj: &serde_json::Map<String, Value>, detail_type: &str) -> Result<Notification, EventError> {
    let source = obj.get("source").and_then(Value::as_str).unwrap_or("");
    if source != "aws.s3" || detail_type != "Object Created" {
        return Ok(Notification::Ignored { reason: format!("EventBridge {source:?} {detail_type:?}") });
    }
    let detail = obj.get("detail").ok_or_else(|| EventError::Malformed("EventBridge event without detail".into()))?;
    let bucket = str_at(detail, &["bucket", "name"])
        .ok_or_else(|| EventError::Malformed("EventBridge event without detail.bucket.name".into()))?;
    let key = str_at(detail, &["object", "key"])
        .filter(|k| !k.is_empty())
        .ok_or_else(|| EventError::Malformed("EventBridge event without detail.object.key".into()))?;
    Ok(Notification::Objects(vec![ObjectEvent {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: at(detail, &["object", "size"]).and_then(Value::as_u64),
        etag: str_at(detail, &["object", "etag"]).map(str::to_string),
        version_id: str_at(detail, &["object", "version-id"]).map(str::to_string),
        sequencer: str_at(detail, &["object", "sequencer"]).map(str::to_string),
        event_name: detail_type.to_string(),
        event_time: obj.get("time").and_then(Value::as_str).map(str::to_string),
    }]))
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

/// Errors of the consumer; each names the queue.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("sqs queue {queue}: {operation} failed: {message}")]
    Request { queue: String, operation: &'static str, code: Option<String>, message: String },
    #[error("sqs queue {queue}: {failed} of {total} message(s) could not be deleted: {message}")]
    DeleteBatch { queue: String, failed: usize, total: usize, message: String },
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Long-poll wait (at most 20 s).
    pub wait_time: Duration,
    /// Messages per receive (1–10).
    pub max_messages: i32,
    /// Visibility timeout asked for on receive; `None` keeps the queue's.
    pub visibility_timeout: Option<Duration>,
    pub retry: RetryPolicy,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            wait_time: Duration::from_secs(20),
            max_messages: 10,
            visibility_timeout: None,
            retry: RetryPolicy::default(),
        }
    }
}

/// One received message.
#[derive(Debug)]
pub struct ReceivedMessage {
    pub message_id: String,
    /// Needed to extend visibility and to delete.
    pub receipt_handle: String,
    /// How often SQS delivered it (1 on first delivery), when reported.
    pub receive_count: Option<u32>,
    pub body: String,
    pub notification: Result<Notification, EventError>,
}

/// A long-polling consumer of one queue.
#[derive(Debug, Clone)]
pub struct SqsConsumer {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    opts: ConsumerOptions,
}

impl SqsConsumer {
    pub fn new(config: &SdkConfig, queue_url: impl Into<String>, opts: ConsumerOptions) -> SqsConsumer {
        SqsConsumer::from_client(aws_sdk_sqs::Client::new(config), queue_url, opts)
    }

    pub fn from_client(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        opts: ConsumerOptions,
    ) -> SqsConsumer {
        SqsConsumer { client, queue_url: queue_url.into(), opts }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The SDK client, for operations this crate does not wrap.
    pub fn sdk(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    fn error<E>(&self, operation: &'static str, err: &aws_sdk_sqs::error::SdkError<E>) -> SqsError
    where
        E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        SqsError::Request {
            queue: self.queue_url.clone(),
            operation,
            code: retry::error_code(err),
            message: aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
        }
    }

    /// Long-polls once; returns 0 to `max_messages` messages, parsed.
    pub async fn receive(&self) -> Result<Vec<ReceivedMessage>, SqsError> {
        let wait = self.opts.wait_time.as_secs().min(20) as i32;
        let result = retry::with_retries(&self.opts.retry, "sqs receive", retry::failure_of, || {
            let mut request = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .wait_time_seconds(wait)
                .max_number_of_messages(self.opts.max_messages.clamp(1, 10))
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
            if let Some(timeout) = self.opts.visibility_timeout {
                request = request.visibility_timeout(timeout.as_secs().min(43_200) as i32);
            }
            request.send()
        })
        .await;
        let output = result.map_err(|err| self.error("ReceiveMessage", &err))?;
        let mut messages = Vec::new();
        for message in output.messages() {
            let (Some(id), Some(receipt)) = (message.message_id(), message.receipt_handle()) else { continue };
            let body = message.body().unwrap_or_default().to_string();
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|v| v.parse().ok());
            let notification = parse_body(&body);
            if let Err(err) = &notification {
                tracing::warn!(queue = %self.queue_url, message_id = id, error = %err, "unparseable sqs message");
            }
            messages.push(ReceivedMessage {
                message_id: id.to_string(),
                receipt_handle: receipt.to_string(),
                receive_count,
                body,
                notification,
            });
        }
        Ok(messages)
    }

    /// Makes the message invisible for `timeout` from now (at most 12 h after receipt,
    /// an SQS limit).
    pub async fn extend_visibility(&self, receipt_handle: &str, timeout: Duration) -> Result<(), SqsError> {
        let secs = timeout.as_secs().min(43_200) as i32;
        retry::with_retries(&self.opts.retry, "sqs change visibility", retry::failure_of, || {
            self.client
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt_handle)
                .visibility_timeout(secs)
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|err| self.error("ChangeMessageVisibility", &err))
    }

    /// Deletes one message; call only once the work it announced is checkpointed.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), SqsError> {
        retry::with_retries(&self.opts.retry, "sqs delete", retry::failure_of, || {
            self.client.delete_message().queue_url(&self.queue_url).receipt_handle(receipt_handle).send()
        })
        .await
        .map(|_| ())
        .map_err(|err| self.error("DeleteMessage", &err))
    }

    /// Deletes messages in batches of 10; failed entries are retried once one by one.
    pub async fn delete_all(&self, receipt_handles: &[String]) -> Result<(), SqsError> {
        for chunk in receipt_handles.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build().ok()
                })
                .collect();
            let output = retry::with_retries(&self.opts.retry, "sqs delete batch", retry::failure_of, || {
                self.client.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(entries.clone())).send()
            })
            .await
            .map_err(|err| self.error("DeleteMessageBatch", &err))?;
            let mut failed = 0;
            let mut last = String::new();
            for entry in output.failed() {
                let Some(receipt) = entry.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) else { continue };
                if let Err(err) = self.delete(receipt).await {
                    failed += 1;
                    last = err.to_string();
                }
            }
            if failed > 0 {
                return Err(SqsError::DeleteBatch {
                    queue: self.queue_url.clone(),
                    failed,
                    total: chunk.len(),
                    message: last,
                });
            }
        }
        Ok(())
    }

    /// Keeps a message invisible while it is processed: extends its visibility to
    /// `timeout` now and then every `timeout / 2`, until the keeper is stopped or dropped.
    pub fn keep_invisible(&self, receipt_handle: String, timeout: Duration) -> VisibilityKeeper {
        let this = self.clone();
        let timeout = timeout.max(Duration::from_secs(2));
        let task = tokio::spawn(async move {
            loop {
                if let Err(err) = this.extend_visibility(&receipt_handle, timeout).await {
                    tracing::warn!(queue = %this.queue_url, error = %err, "visibility extension failed; stopping");
                    return;
                }
                tokio::time::sleep(timeout / 2).await;
            }
        });
        VisibilityKeeper { task }
    }
}

/// Stops extending visibility when dropped.
#[derive(Debug)]
pub struct VisibilityKeeper {
    task: tokio::task::JoinHandle<()>,
}

impl VisibilityKeeper {
    pub fn stop(self) {}
}

impl Drop for VisibilityKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "vpc/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2026/month=11/day=28/hour=07/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20261128T0700Z_3f9c2a1b.log.gz";

    fn s3_body(key: &str, name: &str) -> String {
        serde_json::json!({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2026-11-28T07:09:45.812Z","eventName":name,
            "s3":{"s3SchemaVersion":"1.0","bucket":{"name":"acme-flowlogs-use1","arn":"arn:aws:s3:::acme-flowlogs-use1"},
                  "object":{"key":key,"size":184233,"eTag":"9b2cf535f27731c974343645a3985328","sequencer":"006748167979D1F0AE"}}}]})
        .to_string()
    }

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(decode_event_key("a/b+c%3Dd%2Fe.log.gz").unwrap(), "a/b c=d/e.log.gz");
        assert_eq!(decode_event_key("caf%C3%A9%2B1").unwrap(), "café+1");
        assert_eq!(decode_event_key("plain/key.log.gz").unwrap(), "plain/key.log.gz");
        assert!(decode_event_key("bad%2").is_err());
        assert!(decode_event_key("bad%zz").is_err());
        assert!(decode_event_key("%FF").is_err());
        assert!(decode_event_key("").is_err());
    }

    #[test]
    fn s3_notification_with_hive_key() {
        let encoded = KEY.replace('=', "%3D");
        let parsed = parse_body(&s3_body(&encoded, "ObjectCreated:Put")).unwrap();
        let Notification::Objects(objects) = parsed else { panic!("{parsed:?}") };
        assert_eq!(objects.len(), 1);
        let o = &objects[0];
        assert_eq!(o.bucket, "acme-flowlogs-use1");
        assert_eq!(o.key, KEY);
        assert_eq!(o.size, Some(184_233));
        assert_eq!(o.sequencer.as_deref(), Some("006748167979D1F0AE"));
        assert_eq!(o.event_name, "ObjectCreated:Put");
        assert_eq!(o.url(), format!("s3://acme-flowlogs-use1/{KEY}"));
        assert!(flowhound_flowlog::KeyInfo::parse(&o.key).is_some());
    }

    #[test]
    fn test_events_and_other_events() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-28T07:00:00.000Z","Bucket":"b","RequestId":"X","HostId":"Y"}"#;
        assert_eq!(parse_body(test).unwrap(), Notification::Test);
        assert!(matches!(parse_body(&s3_body("k", "ObjectRemoved:Delete")).unwrap(), Notification::Ignored { .. }));
        assert!(matches!(parse_body(r#"{"Records":[]}"#).unwrap(), Notification::Ignored { .. }));
        assert!(matches!(parse_body(r#"{"hello":"world"}"#).unwrap(), Notification::Ignored { .. }));
        assert!(matches!(parse_body("not json"), Err(EventError::NotJson(_))));
        assert!(matches!(parse_body("[1]"), Err(EventError::Malformed(_))));
        assert!(matches!(
            parse_body(
                r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"}}}]}"#
            ),
            Err(EventError::Malformed(_))
        ));
        assert!(matches!(
            parse_body(
                r#"{"Records":[{"eventVersion":"3.0","eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}"#
            ),
            Err(EventError::Malformed(_))
        ));
    }

    #[test]
    fn several_records_in_one_message() {
        let body = r#"{"Records":[
          {"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b.log.gz"}}},
          {"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"gone.log.gz"}}},
          {"eventVersion":"2.2","eventSource":"aws:s3","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"b"},"object":{"key":"c%2Fd.log.gz","size":5}}}]}"#;
        let Notification::Objects(objects) = parse_body(body).unwrap() else { panic!() };
        let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, vec!["a b.log.gz", "c/d.log.gz"]);
    }

    #[test]
    fn sns_envelope_is_unwrapped() {
        let envelope = serde_json::json!({"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t",
            "Message": s3_body("x/y+z.log.gz", "ObjectCreated:Put")})
        .to_string();
        let Notification::Objects(objects) = parse_body(&envelope).unwrap() else { panic!() };
        assert_eq!(objects[0].key, "x/y z.log.gz");
        let test = serde_json::json!({"Type":"Notification","Message":"{\"Event\":\"s3:TestEvent\"}"}).to_string();
        assert_eq!(parse_body(&test).unwrap(), Notification::Test);
    }

    #[test]
    fn eventbridge_object_created() {
        let body = r#"{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created","source":"aws.s3",
         "account":"123456789012","time":"2026-11-28T07:09:45Z","region":"us-east-1","resources":["arn:aws:s3:::acme-flowlogs-use1"],
         "detail":{"version":"0","bucket":{"name":"acme-flowlogs-use1"},
          "object":{"key":"AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/28/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20261128T0700Z_3f9c2a1b.log.gz",
                    "size":184233,"etag":"9b2cf535f27731c974343645a3985328","sequencer":"617f08299329d189"},
          "request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","source-ip-address":"10.0.45.12","reason":"PutObject"}}"#;
        let Notification::Objects(objects) = parse_body(body).unwrap() else { panic!() };
        assert_eq!(objects[0].bucket, "acme-flowlogs-use1");
        assert!(objects[0].key.ends_with("_3f9c2a1b.log.gz"));
        assert_eq!(objects[0].etag.as_deref(), Some("9b2cf535f27731c974343645a3985328"));
        assert_eq!(objects[0].event_name, "Object Created");
        assert_eq!(objects[0].event_time.as_deref(), Some("2026-11-28T07:09:45Z"));
        let deleted = body.replace("Object Created", "Object Deleted");
        assert!(matches!(parse_body(&deleted).unwrap(), Notification::Ignored { .. }));
    }
}
