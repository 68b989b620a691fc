//! A Lambda runtime API, for the benchmarks (`make bench`, docs/performance.md): it starts a
//! function's binary as Lambda does (the `AWS_LAMBDA_*` environment, the runtime API's address
//! in `AWS_LAMBDA_RUNTIME_API`), hands it one event at a time when it asks for the next
//! (`GET /2018-06-01/runtime/invocation/next`), and takes its answers
//! (`POST .../invocation/{id}/response` or `.../error`, `POST .../init/error`), noting when
//! each arrived. One instance per `Function`, as Lambda runs one event at a time per instance.

use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

const PREFIX: &str = "/2018-06-01/runtime";

/// What the function answered to one event.
#[derive(Debug)]
pub struct Outcome {
    pub request_id: String,
    /// `response` (true) or `error` (false; also an error during init).
    pub ok: bool,
    pub body: Vec<u8>,
    /// When the answer's last byte arrived.
    pub at: Instant,
}

impl Outcome {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

struct Shared {
    events: Mutex<mpsc::UnboundedReceiver<(String, Vec<u8>)>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    name: String,
    /// When the instance first asked for an event: the end of its init.
    first_asked: std::sync::Mutex<Option<Instant>>,
}

/// One instance of a function under the runtime API.
pub struct Function {
    child: tokio::process::Child,
    events: mpsc::UnboundedSender<(String, Vec<u8>)>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    server: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
    sent: u64,
}

impl Function {
    /// Starts `binary` with `env` (plus what Lambda sets); its logs go to `log` (appended). An
    /// event handed to it right away is there when it first asks for one, as on a cold start.
    pub async fn start(
        binary: &Path,
        name: &str,
        env: &[(String, String)],
        log: &Path,
    ) -> std::io::Result<Function> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (events, receiver) = mpsc::unbounded_channel();
        let (answers, outcomes) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(receiver),
            outcomes: answers,
            name: name.to_string(),
            first_asked: std::sync::Mutex::new(None),
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = tokio::process::Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("_HANDLER", "bootstrap")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Function {
            child,
            events,
            outcomes,
            server,
            shared,
            sent: 0,
        })
    }

    fn queue(&mut self, event: &serde_json::Value) -> String {
        self.sent += 1;
        let id = format!("bench-{}", self.sent);
        let body = serde_json::to_vec(event).expect("an event serializes");
        let _ = self.events.send((id.clone(), body));
        id
    }

    /// Hands the instance `event` and waits for its answer.
    pub async fn invoke(&mut self, event: &serde_json::Value) -> Outcome {
        let id = self.queue(event);
        let outcome = self.next_outcome().await;
        assert_eq!(outcome.request_id, id, "answers come in order");
        outcome
    }

    /// Hands the instance `event`: its answer, or `None` if the process died first (killed,
    /// as Lambda ends an invocation that runs out of time or memory).
    pub async fn invoke_unless_killed(&mut self, event: &serde_json::Value) -> Option<Outcome> {
        let id = self.queue(event);
        tokio::select! {
            outcome = self.outcomes.recv() => {
                let outcome = outcome.expect("the runtime API answers");
                assert_eq!(outcome.request_id, id, "answers come in order");
                Some(outcome)
            }
            _ = self.child.wait() => None,
        }
    }

    async fn next_outcome(&mut self) -> Outcome {
        match tokio::time::timeout(Duration::from_secs(600), self.outcomes.recv()).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => panic!("the runtime API stopped"),
            Err(_) => panic!("no answer within 10 minutes"),
        }
    }

    /// When the instance first asked for an event (the end of its init).
    pub fn first_request(&self) -> Option<Instant> {
        *self.shared.first_asked.lock().expect("not poisoned")
    }

    /// The instance's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(status(404));
    };
    if req.method() == hyper::Method::GET && rest == "/invocation/next" {
        shared
            .first_asked
            .lock()
            .expect("not poisoned")
            .get_or_insert_with(Instant::now);
        let next = shared.events.lock().await.recv().await;
        let Some((id, event)) = next else {
            return Ok(status(410));
        };
        let deadline = SystemTime::now() + Duration::from_secs(900);
        let deadline = deadline
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let arn = format!(
            "arn:aws:lambda:eu-west-1:123456789012:function:{}",
            shared.name
        );
        let response = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", &id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header("lambda-runtime-invoked-function-arn", arn)
            .header("lambda-runtime-trace-id", format!("Root=1-bench-{id}"))
            .body(Full::new(Bytes::from(event)))
            .expect("a response");
        return Ok(response);
    }
    if req.method() != hyper::Method::POST {
        return Ok(status(405));
    }
    let (request_id, ok) = if rest == "/init/error" {
        ("init".to_string(), false)
    } else if let Some(tail) = rest.strip_prefix("/invocation/") {
        match tail.rsplit_once('/') {
            Some((id, "response")) => (id.to_string(), true),
            Some((id, "error")) => (id.to_string(), false),
            _ => return Ok(status(404)),
        }
    } else {
        return Ok(status(404));
    };
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => return Ok(status(400)),
    };
    let _ = shared.outcomes.send(Outcome {
        request_id,
        ok,
        body,
        at: Instant::now(),
    });
    Ok(status(202))
}

fn status(code: u16) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .body(Full::new(Bytes::new()))
        .expect("a response")
}
