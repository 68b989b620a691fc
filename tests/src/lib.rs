//! What the integration tests share: the running stack (`.local/.../stack.json`, written by
//! infra/devstack.py), an HTTP client for its API, sign-in through Cognito's API, the mail
//! SES recorded, and raw reads of the table (to check what is stored, not what the API says).
//!
//! `make integration` starts the stack and sets `SOFTBRIK_STACK`; without it the tests fail.

pub mod runtime;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use mail_parser::MimeHeaders;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Deserialize)]
pub struct StackFile {
    pub api_url: String,
    pub aws_endpoint: String,
    pub region: String,
    pub table_name: String,
    /// The table of the accounts' wrapped data keys (no backups).
    pub keys_table_name: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub kms_key_id: String,
    /// The mail bucket: raw inbound mail and ticket attachments.
    pub bucket: String,
    pub lambda_endpoint: String,
    /// The payment partner's emulator (localstripe).
    pub stripe_url: String,
    /// What the event bus delivered to the local subscriber (local-stack.md "Events").
    pub events_url: String,
    /// The Brik modules' role's credentials (SigV4 for GET /entitlements/...).
    pub brik_modules: BrikModules,
    /// Every route of template.yaml, as the local gateway serves it.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// The queue each function is invoked by (its event source mapping's), by function.
    #[serde(default)]
    pub queues: HashMap<String, String>,
}

/// Credentials of the Brik modules' role, as stack.json gives them.
#[derive(Debug, Clone, Deserialize)]
pub struct BrikModules {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

/// A route of template.yaml: `auth` is `jwt` (Cognito), `none` (public or checked by the
/// function itself) or `iam` (SigV4 callers only in AWS).
#[derive(Debug, Clone, Deserialize)]
pub struct RouteSpec {
    pub method: String,
    pub path: String,
    pub function: String,
    pub auth: String,
}

impl RouteSpec {
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The names of its path parameters (`{user_id}` -> `user_id`), in order.
    pub fn params(&self) -> Vec<&str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }
}

/// A handle on the running stack.
pub struct Stack {
    pub file: StackFile,
    http: reqwest::Client,
    aws: aws_config::SdkConfig,
}

/// An API answer: status, headers we care about, JSON body (Null when not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    /// The `Retry-After` header, in seconds, when there is one.
    pub retry_after: Option<u64>,
}

impl Stack {
    pub async fn connect() -> Stack {
        let path = std::env::var("SOFTBRIK_STACK")
            .expect("SOFTBRIK_STACK is not set: run the integration tests with `make integration`");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let file: StackFile =
            serde_json::from_str(&text).expect("stack.json is not what devstack writes");
        // The emulator answers plain HTTP on localhost.
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .endpoint_url(&file.aws_endpoint)
            .region(aws_config::Region::new(file.region.clone()))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await;
        Stack {
            file,
            http: reqwest::Client::new(),
            aws,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Answer {
        let url = format!("{}{}", self.file.api_url, path);
        let mut req = self
            .client_for(path)
            .request(method.parse().expect("method"), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        self.send(req).await
    }

    /// The client a call to `path` goes out on. Signups are limited per client address
    /// (security.md), so each test company signs up from an address of its own, as real
    /// companies do: a random one of the loopback network 127.0.0.0/8.
    fn client_for(&self, path: &str) -> reqwest::Client {
        if path != "/signup" {
            return self.http.clone();
        }
        let [a, b, c, ..] = *uuid::Uuid::new_v4().as_bytes();
        let address = std::net::Ipv4Addr::new(127, a.max(1), b, c.clamp(1, 254));
        Self::client_from(address.into())
    }

    /// A client whose requests come from `address` (a loopback one locally).
    pub fn client_from(address: std::net::IpAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(address)
            .build()
            .expect("a client")
    }

    /// A signup sent from client address `from`.
    pub async fn signup_from(&self, from: std::net::IpAddr, body: &Value) -> Answer {
        let url = format!("{}/signup", self.file.api_url);
        let req = Self::client_from(from)
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(req).await
    }

    /// A call with the `Authorization` header exactly as given (or none).
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let url = format!("{}{}", self.file.api_url, path);
        let mut req = self
            .client_for(path)
            .request(method.parse().expect("method"), url);
        if let Some(value) = authorization {
            req = req.header("Authorization", value);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        self.send(req).await
    }

    /// A GET whose answer is a file: status, content type and bytes.
    pub async fn download(&self, path: &str, token: &str) -> (u16, String, Vec<u8>) {
        let url = format!("{}{}", self.file.api_url, path);
        let resp = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = resp.bytes().await.expect("body").to_vec();
        (status, content_type, bytes)
    }

    /// Sends a raw body, for bodies that are not JSON or too large.
    pub async fn call_raw(&self, method: &str, path: &str, body: Vec<u8>) -> Answer {
        let url = format!("{}{}", self.file.api_url, path);
        let req = self
            .http
            .request(method.parse().expect("method"), url)
            .header("content-type", "application/json")
            .body(body);
        self.send(req).await
    }

    /// Raw bytes sent as a JSON body, with the `Authorization` header as given (or none).
    pub async fn call_bytes(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let url = format!("{}{}", self.file.api_url, path);
        let mut req = self
            .http
            .request(method.parse().expect("method"), url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(value) = authorization {
            req = req.header("Authorization", value);
        }
        self.send(req).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("the API answers");
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            content_type,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            retry_after,
        }
    }

    pub async fn new_clock(&self, at: &str) -> String {
        let answer = self
            .call(
                "POST",
                "/test-clocks",
                None,
                Some(&json!({"frozen_time": at})),
                None,
            )
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["id"].as_str().expect("clock id").to_string()
    }

    /// Signs in as Cognito users do (USER_PASSWORD_AUTH) and returns the ID token.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<String, String> {
        let idp = aws_sdk_cognitoidentityprovider::Client::new(&self.aws);
        let out = idp
            .initiate_auth()
            .client_id(&self.file.user_pool_client_id)
            .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", email)
            .auth_parameters("PASSWORD", password)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{}",
                    aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)
                )
            })?;
        out.authentication_result()
            .and_then(|r| r.id_token())
            .map(str::to_string)
            .ok_or_else(|| "no id token".to_string())
    }

    /// A first sign-in with the temporary password of an invitation: Cognito asks for a new
    /// password (NEW_PASSWORD_REQUIRED), which this sets; returns the ID token.
    pub async fn first_sign_in(
        &self,
        email: &str,
        temporary: &str,
        new_password: &str,
    ) -> Result<String, String> {
        use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};
        let idp = aws_sdk_cognitoidentityprovider::Client::new(&self.aws);
        let started = idp
            .initiate_auth()
            .client_id(&self.file.user_pool_client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", email)
            .auth_parameters("PASSWORD", temporary)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{}",
                    aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)
                )
            })?;
        if started.challenge_name() != Some(&ChallengeNameType::NewPasswordRequired) {
            return Err(format!(
                "expected NEW_PASSWORD_REQUIRED, got {:?}",
                started.challenge_name()
            ));
        }
        let answered = idp
            .respond_to_auth_challenge()
            .client_id(&self.file.user_pool_client_id)
            .challenge_name(ChallengeNameType::NewPasswordRequired)
            .set_session(started.session().map(str::to_string))
            .challenge_responses("USERNAME", email)
            .challenge_responses("NEW_PASSWORD", new_password)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{}",
                    aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)
                )
            })?;
        answered
            .authentication_result()
            .and_then(|r| r.id_token())
            .map(str::to_string)
            .ok_or_else(|| "no id token".to_string())
    }

    /// `claims` signed with the user pool's own key (the emulator's), as Cognito signs ID
    /// tokens: for tokens Cognito never hands out on request (expired, another audience).
    pub async fn sign_token(&self, claims: &Value) -> String {
        let url = format!("{}/_softbrik/sign-token", self.file.aws_endpoint);
        let answer: Value = self
            .http
            .post(url)
            .json(&json!({"claims": claims}))
            .send()
            .await
            .expect("the emulator answers")
            .json()
            .await
            .expect("a token");
        answer["token"].as_str().expect("token").to_string()
    }

    /// Makes the `fail` AWS requests that follow the next `skip` fail (500), or, with `None`,
    /// ends the plan; returns how many requests were seen and failed under the previous plan,
    /// and their operations (infra/emulator.py).
    pub async fn faults(&self, plan: Option<(usize, usize)>) -> Value {
        let url = format!("{}/_softbrik/faults", self.file.aws_endpoint);
        let req = match plan {
            Some((skip, fail)) => self
                .http
                .post(url)
                .json(&json!({"skip": skip, "fail": fail})),
            None => self.http.delete(url),
        };
        req.send()
            .await
            .expect("the emulator answers")
            .json()
            .await
            .expect("a fault report")
    }

    /// Makes the request of the AWS operation `only` that follows its next `skip` kill the
    /// process that makes it (SIGKILL, before it is carried out): a function that dies
    /// half-way, as Lambda ends one that runs out of time or memory. For a function the test
    /// runs itself (`runtime::Function`): cargo-lambda does not answer an invocation whose
    /// process died.
    pub async fn kills_at(&self, only: &str, skip: usize) {
        let url = format!("{}/_softbrik/faults", self.file.aws_endpoint);
        let plan = json!({"skip": skip, "fail": 1, "kill": true, "only": only});
        let answer = self.http.post(url).json(&plan).send().await;
        assert!(answer.expect("the emulator answers").status().is_success());
    }

    /// Invokes a billing run (`renew`, `reminder`) as a schedule or a clock does; a run that
    /// handed a test clock's accounts to the workers is then waited for, as the clock waits
    /// (`fan_out::wait`), up to `patience`, until each account is counted in its report: the
    /// report with what the workers counted.
    pub async fn run_and_wait(
        &self,
        function: &str,
        run: &Value,
        patience: std::time::Duration,
    ) -> Value {
        let mut report = self.invoke(function, run).await;
        let Some(id) = report["report"].as_str().map(str::to_string) else {
            return report;
        };
        let accounts = report["accounts"].as_u64().unwrap_or(0);
        let started = std::time::Instant::now();
        loop {
            let (mut counted, mut jobs, mut failed) = (0u64, 0u64, 0u64);
            let pk = AttributeValue::S(format!("RUNREPORT#{id}"));
            for item in self.query_all(None, "pk = :pk", &[(":pk", pk)]).await {
                counted += 1;
                jobs += n(&item, "jobs");
                failed += n(&item, "failed");
            }
            if counted >= accounts {
                report["jobs"] = json!(jobs);
                report["failed"] = json!(failed);
                return report;
            }
            assert!(
                started.elapsed() < patience,
                "{function}: {counted} of {accounts} accounts handled after {patience:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Holds the queues' event source mappings off (`true`) or lets them poll again.
    pub async fn pause_queues(&self, paused: bool) {
        self.pause_local("queues", paused).await;
    }

    /// Pauses (or resumes) what the local stack runs of itself: `schedules` or `queues`.
    async fn pause_local(&self, what: &str, paused: bool) {
        self.local(what, &json!({"paused": paused})).await;
    }

    /// Sets how many workers `function`'s queue runs at once, as Lambda's
    /// UpdateEventSourceMapping sets its maximum concurrency (no more than the stack started
    /// with: `BillingWorkers`).
    pub async fn set_workers(&self, function: &str, workers: u32) {
        let asked = json!({"function": function, "maximum_concurrency": workers});
        self.local("queues", &asked).await;
    }

    /// Asks the local stack's `/_local/<what>`.
    async fn local(&self, what: &str, asked: &Value) {
        let url = format!("{}/_local/{what}", self.file.api_url);
        let answer = self
            .http
            .post(url)
            .json(asked)
            .send()
            .await
            .expect("the gateway answers");
        assert!(answer.status().is_success(), "/_local/{what}: {asked}");
    }

    /// Takes `count` messages off `function`'s queue, as its event source mapping does, hidden
    /// from the others for `hidden` seconds: Lambda's SQS event for them.
    pub async fn take_batch(&self, function: &str, count: usize, hidden: i32) -> Value {
        let url = self
            .file
            .queues
            .get(function)
            .expect("the function's queue");
        let sqs = aws_sdk_sqs::Client::new(&self.aws);
        let mut records = Vec::new();
        for _ in 0..120 {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(i32::try_from(count - records.len()).unwrap_or(10))
                .visibility_timeout(hidden)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive from the queue");
            for m in out.messages.unwrap_or_default() {
                records.push(json!({
                    "messageId": m.message_id, "receiptHandle": m.receipt_handle,
                    "body": m.body, "attributes": {}, "messageAttributes": {},
                    "md5OfBody": m.md5_of_body, "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:queue",
                    "awsRegion": "eu-west-1",
                }));
            }
            if records.len() >= count {
                return json!({ "Records": records });
            }
        }
        panic!(
            "{} of {count} messages came to {function}'s queue",
            records.len()
        );
    }

    /// What the sandbox partner counted in each second from `from` to `to` (Unix seconds):
    /// (second, requests answered, requests refused for its rate), the seconds it was asked in.
    pub async fn partner_seconds(&self, from: i64, to: i64) -> Vec<(i64, u64, u64)> {
        let values = [
            (":pk", AttributeValue::S("SANDBOX#RATE".into())),
            (":from", AttributeValue::S(from.to_string())),
            (":to", AttributeValue::S(to.to_string())),
        ];
        let condition = "pk = :pk AND sk BETWEEN :from AND :to";
        let items = self.query_all(None, condition, &values).await;
        items
            .iter()
            .map(|item| {
                let second = s(item, "sk").parse().unwrap_or(0);
                (second, n(item, "answered"), n(item, "refused"))
            })
            .collect()
    }

    /// Every item a Query finds, page after page (consistent reads on the table; an index's
    /// are eventually consistent, as DynamoDB allows).
    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Vec<HashMap<String, AttributeValue>> {
        let ddb = aws_sdk_dynamodb::Client::new(&self.aws);
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = ddb
                .query()
                .table_name(&self.file.table_name)
                .key_condition_expression(condition)
                .consistent_read(index.is_none())
                .set_index_name(index.map(str::to_string))
                .set_exclusive_start_key(start);
            for (name, value) in values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let out = query.send().await.expect("a query of the table");
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return items,
            }
        }
    }

    /// The environment the local stack gives `binary`: every function's (`functions.env`),
    /// and its own credentials and variables (`functions/<binary>.env`).
    pub fn function_env(&self, binary: &str) -> Vec<(String, String)> {
        let mut env = stack_env_file("functions.env");
        env.extend(stack_env_file(&format!("functions/{binary}.env")));
        env
    }

    /// Makes the `count` requests of the AWS operation `only` (as the fault log names it, e.g.
    /// `AWSEvents.PutEvents`) that follow its next `skip` fail, whatever other requests do.
    pub async fn fail_only(&self, only: &str, skip: usize, count: usize) {
        let url = format!("{}/_softbrik/faults", self.file.aws_endpoint);
        let plan = json!({"skip": skip, "fail": count, "only": only});
        let answer = self.http.post(url).json(&plan).send().await;
        assert!(answer.expect("the emulator answers").status().is_success());
    }

    /// Makes the `count` AWS requests that follow the next `skip` be carried out with their
    /// answer lost (the connection drops): what a timeout leaves, a change that may have landed.
    pub async fn loses_answers(&self, skip: usize, count: usize) {
        let url = format!("{}/_softbrik/faults", self.file.aws_endpoint);
        let plan = json!({"skip": skip, "fail": count, "lost": true});
        let answer = self.http.post(url).json(&plan).send().await;
        assert!(answer.expect("the emulator answers").status().is_success());
    }

    /// Every stored item that names the account anywhere (key or attribute).
    pub async fn items_naming(&self, account_id: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = self.scan().await;
        items.extend(self.scan_table(&self.file.keys_table_name).await);
        items
            .into_iter()
            .filter(|item| {
                item.values().any(|v| match v {
                    AttributeValue::S(s) => s.contains(account_id),
                    _ => false,
                })
            })
            .collect()
    }

    /// Pauses (or resumes) the scheduled runs of the local stack.
    pub async fn pause_schedules(&self, paused: bool) {
        self.pause_local("schedules", paused).await;
    }

    /// Whether Cognito has a user with this sign-in address.
    pub async fn cognito_user_exists(&self, email: &str) -> bool {
        let idp = aws_sdk_cognitoidentityprovider::Client::new(&self.aws);
        idp.admin_get_user()
            .user_pool_id(&self.file.user_pool_id)
            .username(email)
            .send()
            .await
            .is_ok()
    }

    /// Writes an item of string and boolean attributes, as a function would have.
    pub async fn put_item(&self, attributes: &[(&str, Value)]) {
        let item = attributes
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::Bool(b) => AttributeValue::Bool(*b),
                    Value::Number(n) => AttributeValue::N(n.to_string()),
                    other => AttributeValue::S(other.as_str().unwrap_or_default().to_string()),
                };
                (k.to_string(), value)
            })
            .collect();
        self.put_raw_item(item).await;
    }

    /// Removes attributes of an item, as if a function had not written them yet.
    pub async fn remove_attributes(&self, pk: &str, sk: &str, names: &[&str]) {
        let expression = format!("REMOVE {}", names.join(", "));
        aws_sdk_dynamodb::Client::new(&self.aws)
            .update_item()
            .table_name(&self.file.table_name)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .expect("update item");
    }

    /// Sets one string attribute of an item, as an operator's change would (a support plan
    /// set directly, where a test is about the desk rather than the packs that sell it).
    pub async fn set_attribute(&self, pk: &str, sk: &str, name: &str, value: &str) {
        aws_sdk_dynamodb::Client::new(&self.aws)
            .update_item()
            .table_name(&self.file.table_name)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .update_expression("SET #n = :v")
            .expression_attribute_names("#n", name)
            .expression_attribute_values(":v", AttributeValue::S(value.into()))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .expect("update item");
    }

    /// A member of the support team (Cognito group `support`, no account), signed in: staff
    /// are made by an operator in the user pool, as here.
    pub async fn support_token(&self) -> String {
        let idp = aws_sdk_cognitoidentityprovider::Client::new(&self.aws);
        let email = unique_email("agent");
        idp.admin_create_user()
            .user_pool_id(&self.file.user_pool_id)
            .username(&email)
            .user_attributes(
                aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
                    .name("email")
                    .value(&email)
                    .build()
                    .expect("attribute"),
            )
            .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
            .send()
            .await
            .expect("staff user");
        idp.admin_set_user_password()
            .user_pool_id(&self.file.user_pool_id)
            .username(&email)
            .password(PASSWORD)
            .permanent(true)
            .send()
            .await
            .expect("staff password");
        idp.admin_add_user_to_group()
            .user_pool_id(&self.file.user_pool_id)
            .username(&email)
            .group_name("support")
            .send()
            .await
            .expect("support group");
        self.sign_in(&email, PASSWORD)
            .await
            .expect("staff signs in")
    }

    /// Delivers a raw message to the support desk as the local stack does (`POST /inbound/email`).
    pub async fn deliver_mail(&self, raw: Vec<u8>) -> Answer {
        self.deliver_mail_with(raw, &[]).await
    }

    /// Delivers a raw message with SES's verdicts on its sender as headers (local-stack.md
    /// "Inbound mail locally": `X-SES-SPF-Verdict`, `X-SES-DKIM-Verdict`,
    /// `X-SES-DMARC-Verdict`, `X-SES-DMARC-Policy`); those not given mean a pass.
    pub async fn deliver_mail_with(&self, raw: Vec<u8>, verdicts: &[(&str, &str)]) -> Answer {
        let url = format!("{}/inbound/email", self.file.api_url);
        let mut req = self
            .http
            .post(url)
            .header("content-type", "message/rfc822")
            .body(raw);
        for (name, value) in verdicts {
            req = req.header(*name, *value);
        }
        self.send(req).await
    }

    /// Invokes a function as its schedule does (through the Lambda invoke API): its answer,
    /// or its error document when it failed (cargo-lambda flags no error; a test that needs
    /// to know uses `try_invoke`).
    pub async fn invoke(&self, function: &str, payload: &Value) -> Value {
        self.try_invoke(function, payload)
            .await
            .unwrap_or_else(|error| error)
    }

    /// Invokes a function; `Err` with its error answer when the invocation failed (what makes
    /// an asynchronous caller such as SES retry it).
    pub async fn try_invoke(&self, function: &str, payload: &Value) -> Result<Value, Value> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.file.lambda_endpoint
        );
        let resp = self
            .http
            .post(url)
            .json(payload)
            .send()
            .await
            .expect("invoke");
        // Lambda flags a failed invocation with a header; cargo-lambda's local runtime answers
        // the function's error document ({errorType, errorMessage}) without it.
        let flagged = resp.headers().get("x-amz-function-error").is_some();
        let answer: Value = resp.json().await.expect("a JSON answer");
        let error_document =
            answer.get("errorType").is_some() && answer.get("errorMessage").is_some();
        if flagged || error_document {
            Err(answer)
        } else {
            Ok(answer)
        }
    }

    /// Every item of the table, as stored.
    pub async fn scan(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.scan_table(&self.file.table_name).await
    }

    /// Every item of a table of the stack (the main table or the keys table), as stored.
    pub async fn scan_table(&self, table: &str) -> Vec<HashMap<String, AttributeValue>> {
        let ddb = aws_sdk_dynamodb::Client::new(&self.aws);
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = ddb
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect("scan");
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return items,
            }
        }
    }

    /// Writes an item into the main table as given (a test that tampers with stored data).
    pub async fn put_raw_item(&self, item: HashMap<String, AttributeValue>) {
        aws_sdk_dynamodb::Client::new(&self.aws)
            .put_item()
            .table_name(&self.file.table_name)
            .set_item(Some(item))
            .send()
            .await
            .expect("put item");
    }

    /// The items of one account's partition.
    pub async fn account_items(&self, account_id: &str) -> Vec<HashMap<String, AttributeValue>> {
        let pk = AttributeValue::S(format!("ACCOUNT#{account_id}"));
        self.query_all(None, "pk = :pk", &[(":pk", pk)]).await
    }

    /// The sandbox partner's charges for an account: (amount, refunded), read through the
    /// index the sandbox writes them to (a scan slows the emulator as the table grows).
    pub async fn charges(&self, account_id: &str) -> Vec<(String, bool)> {
        let pk = AttributeValue::S(format!("SANDBOX#ACCOUNT#{account_id}"));
        let items = self
            .query_all(Some("gsi1"), "gsi1pk = :pk", &[(":pk", pk)])
            .await;
        items
            .iter()
            .map(|i| {
                let refunded = matches!(i.get("refunded"), Some(AttributeValue::Bool(true)));
                (s(i, "amount"), refunded)
            })
            .collect()
    }

    pub fn aws_config(&self) -> &aws_config::SdkConfig {
        &self.aws
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        // The emulator serves buckets by path, not by host name.
        let config = aws_sdk_s3::config::Builder::from(&self.aws)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Stores an object in the mail bucket, as SES's receipt rule does for inbound mail.
    pub async fn put_object(&self, key: &str, bytes: Vec<u8>) {
        self.s3()
            .put_object()
            .bucket(&self.file.bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .expect("put object");
    }

    /// An object of the mail bucket, or `None` when there is none.
    pub async fn get_object(&self, key: &str) -> Option<Vec<u8>> {
        let got = self
            .s3()
            .get_object()
            .bucket(&self.file.bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(got.body.collect().await.expect("object body").to_vec())
    }

    /// How many objects the mail bucket holds under `prefix`.
    pub async fn objects_under(&self, prefix: &str) -> usize {
        let listed = self
            .s3()
            .list_objects_v2()
            .bucket(&self.file.bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list objects");
        listed.contents().len()
    }

    /// The SDK configuration a function of the stack signs with: its own credentials (as
    /// devstack hands them to it), so the emulator evaluates that function's IAM policy.
    pub fn function_aws_config(&self, binary: &str) -> aws_config::SdkConfig {
        let stack = std::env::var("SOFTBRIK_STACK").expect("SOFTBRIK_STACK");
        let path = std::path::Path::new(&stack)
            .parent()
            .expect("the stack's folder")
            .join("functions")
            .join(format!("{binary}.env"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let var = |name: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.trim_matches('"').to_string())
                .unwrap_or_else(|| panic!("{name} is not in {}", path.display()))
        };
        let credentials = aws_sdk_dynamodb::config::Credentials::new(
            var("AWS_ACCESS_KEY_ID"),
            var("AWS_SECRET_ACCESS_KEY"),
            Some(var("AWS_SESSION_TOKEN")),
            None,
            "function",
        );
        self.aws
            .to_builder()
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                credentials,
            ))
            .build()
    }

    /// Clears the AWS emulator's request counts (infra/emulator.py).
    pub async fn reset_aws_calls(&self) {
        let url = format!("{}/_softbrik/calls", self.file.aws_endpoint);
        let resp = self.http.delete(url).send().await.expect("emulator");
        assert!(resp.status().is_success());
    }

    /// The AWS requests the emulator answered since the last reset, by operation.
    pub async fn aws_calls(&self) -> std::collections::BTreeMap<String, u64> {
        let url = format!("{}/_softbrik/calls", self.file.aws_endpoint);
        let resp = self.http.get(url).send().await.expect("emulator");
        resp.json().await.expect("counts")
    }

    /// Messages SES recorded as sent to `to`: (subject, decoded text body, raw MIME).
    pub async fn mail_to(&self, to: &str) -> Vec<Mail> {
        let to = to.to_lowercase();
        let url = format!("{}/_softbrik/mail", self.file.aws_endpoint);
        let data: Value = self
            .http
            .get(url)
            .send()
            .await
            .expect("moto api")
            .json()
            .await
            .expect("json");
        data.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|m| {
                m["destinations"].as_array().is_some_and(|d| {
                    d.iter()
                        .any(|a| a.as_str().is_some_and(|a| a.to_lowercase().contains(&to)))
                })
            })
            .map(|m| Mail::parse(m["raw_data"].as_str().unwrap_or_default()))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub raw: String,
    /// (file name, content type, bytes) of each attachment.
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

impl Mail {
    fn parse(raw: &str) -> Mail {
        let message = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("sent mail parses");
        Mail {
            subject: message.subject().unwrap_or_default().to_string(),
            text: message
                .body_text(0)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            raw: raw.to_string(),
            attachments: message
                .attachments()
                .map(|a| {
                    let content_type = a
                        .content_type()
                        .map(|c| match c.subtype() {
                            Some(sub) => format!("{}/{sub}", c.ctype()),
                            None => c.ctype().to_string(),
                        })
                        .unwrap_or_default();
                    (
                        a.attachment_name().unwrap_or_default().to_string(),
                        content_type,
                        a.contents().to_vec(),
                    )
                })
                .collect(),
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let message = mail_parser::MessageParser::default().parse(self.raw.as_bytes())?;
        message.header_raw(name).map(|v| v.trim().to_string())
    }
}

/// A string attribute of an item ("" when absent).
pub fn s(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        Some(AttributeValue::N(v)) => v.clone(),
        _ => String::new(),
    }
}

/// A number attribute of an item (a boolean counts 1), 0 without it.
pub fn n(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        Some(AttributeValue::Bool(b)) => u64::from(*b),
        _ => 0,
    }
}

/// An account signed up on a test clock, with its admin signed in.
/// An account a test made, its admin signed in, and what its creation answered.
pub struct Tenant {
    pub id: String,
    pub token: String,
    pub admin_email: String,
    pub created: Value,
}

pub struct Company {
    pub clock: String,
    pub account_id: String,
    pub admin_email: String,
    pub token: String,
}

impl Stack {
    /// The FAQ's company, signed up at `at` on a new test clock.
    pub async fn company_on_clock(&self, at: &str) -> Company {
        self.company_with(at, &["files", "care"]).await
    }

    /// The FAQ's company, signed up at `at` on a new test clock with `briks`.
    pub async fn company_with(&self, at: &str, briks: &[&str]) -> Company {
        let clock = self.new_clock(at).await;
        let admin_email = unique_email("admin");
        let mut body = signup_body(&admin_email, Some(&clock));
        body["briks"] = json!(briks);
        let answer = self.call("POST", "/signup", None, Some(&body), None).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        let token = self
            .sign_in(&admin_email, PASSWORD)
            .await
            .expect("admin signs in");
        Company {
            clock,
            account_id: answer.body["account"]["id"].as_str().unwrap().to_string(),
            admin_email,
            token,
        }
    }

    /// A reseller signed up (a card, no Briks), on `clock` if given.
    pub async fn reseller(&self, clock: Option<&str>) -> Tenant {
        let email = unique_email("msp");
        let mut body = signup_body(&email, clock);
        body["kind"] = json!("reseller");
        body["company_name"] = json!("Infogérance Martin");
        body.as_object_mut().expect("an object").remove("briks");
        let answer = self.call("POST", "/signup", None, Some(&body), None).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        self.tenant(answer, email).await
    }

    /// A client account of the reseller whose admin holds `reseller_token`.
    pub async fn client_of(
        &self,
        reseller_token: &str,
        company_name: &str,
        trial_until: Option<&str>,
    ) -> Tenant {
        let email = unique_email("client");
        let mut body = json!({
            "company_name": company_name, "country": "FR", "language": "fr",
            "timezone": "Europe/Paris",
            "admin": {"email": email, "name": "Claire Petit", "password": PASSWORD},
        });
        if let Some(until) = trial_until {
            body["trial_until"] = json!(until);
        }
        let answer = self
            .call(
                "POST",
                "/reseller/clients",
                Some(reseller_token),
                Some(&body),
                None,
            )
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        self.tenant(answer, email).await
    }

    async fn tenant(&self, created: Answer, admin_email: String) -> Tenant {
        Tenant {
            id: created.body["account"]["id"]
                .as_str()
                .expect("the account's id")
                .to_string(),
            token: self
                .sign_in(&admin_email, PASSWORD)
                .await
                .expect("the admin signs in"),
            admin_email,
            created: created.body,
        }
    }

    /// The events the bus delivered to the local subscriber about `account_id`, oldest first,
    /// each in EventBridge's envelope.
    pub async fn events_of(&self, account_id: &str) -> Vec<Value> {
        let delivered: Value = self
            .http
            .get(&self.file.events_url)
            .send()
            .await
            .expect("the emulator answers")
            .json()
            .await
            .expect("a JSON array");
        delivered
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["detail"]["account_id"] == account_id)
            .collect()
    }

    /// `GET path` signed with SigV4 by `signer` (service `execute-api`), as a Brik module
    /// calls the API.
    pub async fn signed_get(&self, path: &str, signer: &BrikModules) -> Answer {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let url = format!("{}{path}", self.file.api_url);
        let identity = aws_credential_types::Credentials::new(
            &signer.access_key_id,
            &signer.secret_access_key,
            None,
            None,
            "stack.json",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&signer.region)
            .name("execute-api")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .expect("signing parameters")
            .into();
        let signable = SignableRequest::new(
            "GET",
            url.as_str(),
            std::iter::empty(),
            SignableBody::Bytes(&[]),
        )
        .expect("a signable request");
        let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
        let mut request = self.http.get(&url);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        self.send(request).await
    }

    /// `GET /entitlements/{account_id}/users/{user_id}` as the Brik modules call it.
    pub async fn entitlements(&self, account_id: &str, user_id: &str) -> Answer {
        let path = format!("/entitlements/{account_id}/users/{user_id}");
        self.signed_get(&path, &self.file.brik_modules).await
    }

    /// A transfer code made by the admin of the client account whose admin holds `token`.
    pub async fn transfer_code(&self, token: &str) -> String {
        let made = self
            .call("POST", "/account/transfer-code", Some(token), None, None)
            .await;
        assert_eq!(made.status, 201, "{made:?}");
        made.body["code"].as_str().expect("a code").to_string()
    }

    /// Signs in for the first time a user invited by a French-speaking company, with the
    /// credentials of the invitation email; returns the ID token.
    pub async fn member_token(&self, email: &str) -> String {
        let mail = self.mail_to(email).await;
        let invitation = mail.first().expect("an invitation email");
        self.first_sign_in(
            &mail_field(&invitation.text, "Identifiant : "),
            &mail_field(&invitation.text, "Mot de passe provisoire : "),
            "Members-Own-Password-9",
        )
        .await
        .expect("the member signs in")
    }

    pub async fn advance(&self, clock: &str, to: &str) {
        let path = format!("/test-clocks/{clock}/advance");
        let answer = self
            .call("POST", &path, None, Some(&json!({"frozen_time": to})), None)
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

/// A number from the environment (the suites' and benchmarks' sizes and seeds), or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The renewal invoices of a page of `GET /account/invoices` (api.md: `{items, next}`).
pub fn renewals(invoices: &Value) -> Vec<Value> {
    invoices["items"]
        .as_array()
        .expect("a page of invoices")
        .iter()
        .filter(|i| i["kind"] == "renewal")
        .cloned()
        .collect()
}

/// The value after `label` on a line of a mail's text (the invitation's credentials).
pub fn mail_field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("the mail has no '{label}': {text}"))
        .trim()
        .to_string()
}

/// The text of a PDF, as a reader extracts it (one shown string a line).
pub fn pdf_text(pdf: &[u8]) -> String {
    let document = lopdf::Document::load_mem(pdf).expect("a PDF");
    let pages: Vec<u32> = document.get_pages().into_keys().collect();
    document.extract_text(&pages).expect("its text")
}

/// A unique address for one test: letters only, since a run of digits in it could pass for a
/// card number and be refused (billing.md "Payment").
pub fn unique_email(who: &str) -> String {
    let letters: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                (b'g' + (c as u8 - b'0')) as char
            } else {
                c
            }
        })
        .collect();
    // A domain of its own too: signups are limited per email domain (security.md).
    format!("{who}+{letters}@{}.example.fr", &letters[..12])
}

/// A message to the support desk with a PDF attached, as a mail client sends it.
pub fn mail_with_attachment(from: &str, message_id: &str, pdf: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
    format!(
        "From: <{from}>\r\nTo: support@softbrik.com\r\nSubject: Facture illisible\r\n\
         Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"SB\"\r\n\r\n\
         --SB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLe PDF joint ne s'ouvre pas.\r\n\
         --SB\r\nContent-Type: application/pdf; name=\"facture.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"facture.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--SB--\r\n"
    )
    .into_bytes()
}

/// A valid body for each route of template.yaml that takes one (`None`: called without a body):
/// the tests that cover every route (isolation, hostile input, idempotency) start from these.
/// [`route_body`] with the ids of the caller's setup in place of their `{name}` marks (a staff
/// route's `{ticket_id}`, a transfer's `{transfer_code}`): `id(name)` gives each.
pub fn with_ids(body: Option<Value>, id: impl Fn(&str) -> Option<String>) -> Option<Value> {
    body.map(|mut body| {
        if let Some(object) = body.as_object_mut() {
            for value in object.values_mut() {
                let named = value
                    .as_str()
                    .and_then(|v| v.strip_prefix('{')?.strip_suffix('}'))
                    .and_then(&id);
                if let Some(named) = named {
                    *value = json!(named);
                }
            }
        }
        body
    })
}

pub fn route_body(key: &str) -> Option<Value> {
    let body = match key {
        "POST /signup" => signup_body(&unique_email("fuzz"), None),
        "POST /test-clocks" => json!({"frozen_time": "2027-01-01T00:00:00Z"}),
        "POST /test-clocks/{clock_id}/advance" => json!({"frozen_time": "2027-01-02T00:00:00Z"}),
        "PUT /account/settings" => {
            json!({"language": "da", "auto_renew": true, "timezone": "Europe/Copenhagen"})
        }
        "PUT /account/payment-method" => json!({"payment_method": "pm_card_visa"}),
        "POST /account/billing-alignment" => json!({"mode": "calendar"}),
        "POST /account/closure" => json!({"confirm": true}),
        "POST /account/users" => {
            json!({"email": unique_email("fuzz"), "name": "Eve Martin", "briks": ["files"]})
        }
        "DELETE /account/users/{user_id}" => json!({"immediate": false}),
        "PUT /account/users/{user_id}/status" => json!({"active": true}),
        "PUT /account/packs/{pack_id}" => json!({"quantity": 1}),
        "POST /account/invoices/{invoice_id}/send" => json!({"email": "compta@example.fr"}),
        "POST /account/scim-token"
        | "POST /account/users/{user_id}/restore"
        | "POST /tickets/{ticket_id}/confirm"
        | "POST /tickets/{ticket_id}/reopen" => json!({}),
        "PUT /account/directory-deny-list" => json!({"emails": ["nobody@example.fr"]}),
        "POST /reseller/clients/{account_id}/closure" => json!({"confirm": true}),
        "POST /reseller/clients/transfer" => json!({"code": "{transfer_code}"}),
        "POST /account/transfer-code" => json!({}),
        "POST /reseller/clients" => json!({
            "company_name": "Fuzz", "country": "FR", "language": "fr", "trial_until": "2030-01-01",
            "admin": {"email": unique_email("fuzz"), "name": "Eve", "password": PASSWORD},
        }),
        "POST /tickets" => {
            json!({"subject": "Sujet", "description": "Texte", "channel": "web", "impact": "normal"})
        }
        "POST /tickets/{ticket_id}/messages" => json!({"body": "Bonjour", "public": true}),
        "POST /tickets/{ticket_id}/acknowledge" => json!({"priority": "P3"}),
        "POST /tickets/{ticket_id}/workaround"
        | "POST /tickets/{ticket_id}/resolve"
        | "POST /tickets/{ticket_id}/rca" => json!({"body": "Fait"}),
        "POST /scim/v2/Users" => json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": unique_email("fuzz"), "active": true,
        }),
        // Staff act on the strength of the customer's ticket: the suites put a ticket of the
        // account's admin in place of `{ticket_id}` (`with_ids`).
        "POST /staff/accounts/{account_id}/billing-alignment" => {
            json!({"mode": "calendar", "ticket_id": "{ticket_id}"})
        }
        "POST /staff/accounts/{account_id}/closure" => {
            json!({"confirm": true, "ticket_id": "{ticket_id}"})
        }
        "DELETE /staff/accounts/{account_id}/users/{user_id}" => {
            json!({"immediate": true, "ticket_id": "{ticket_id}"})
        }
        "POST /staff/accounts/{account_id}/invoices/{invoice_id}/send" => {
            json!({"email": "compta@example.fr", "ticket_id": "{ticket_id}"})
        }
        "POST /staff/accounts/{account_id}/invoices/{invoice_id}/credit-notes" => {
            json!({"reason": "Geste commercial", "amount": "1.00", "ticket_id": "{ticket_id}"})
        }
        "PATCH /scim/v2/Users/{user_id}" => json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": true}],
        }),
        _ => return None,
    };
    Some(body)
}

pub const PASSWORD: &str = "Correct-Horse-42";

/// The FAQ's example company, signing up with `files` and `care` on a VISA card.
pub fn signup_body(email: &str, clock: Option<&str>) -> Value {
    let mut body = json!({
        "company_name": "Fromagerie Dupont",
        "country": "FR",
        "language": "fr",
        "timezone": "Europe/Paris",
        "address": "12 rue des Fromages, 75001 Paris",
        "admin": {"email": email, "name": "Alice Dupont", "password": PASSWORD},
        "payment_method": "pm_card_visa",
        "briks": ["files", "care"],
    });
    if let Some(c) = clock {
        body["test_clock_id"] = json!(c);
    }
    body
}

/// A file of the running stack's folder (`SOFTBRIK_STACK`'s) of `NAME="value"` lines, as the dev
/// stack writes the functions' environment.
pub fn stack_env_file(name: &str) -> Vec<(String, String)> {
    let stack = std::env::var("SOFTBRIK_STACK").expect("SOFTBRIK_STACK: run in the dev stack");
    let path = std::path::Path::new(&stack)
        .parent()
        .expect("the stack's folder")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| {
            let value: String = serde_json::from_str(v).expect("a JSON string, as devstack writes");
            (k.to_string(), value)
        })
        .collect()
}

/// A function's binary as the local stack built it (`cargo build --bins`, debug).
pub fn function_binary(name: &str) -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        std::path::PathBuf::from,
    );
    target.join("debug").join(name)
}
