//! Image builds on the engine's classic builder.
//!
//! The context tar ([`crate::context::tar_context`]) is written to an anonymous
//! temporary file off the async threads and streamed from there as the request
//! body. The answer is a stream of JSON messages: `stream` chunks (split here
//! into lines for the [`LogSink`]), `status` (pull progress), and at the end
//! either `aux` with the image id or `errorDetail`, which becomes
//! [`RuntimeError::BuildFailed`] with the engine's message.
//!
//! Cancelling is dropping: leaving the loop drops bollard's stream, which
//! closes the connection; the engine's request context is then cancelled and
//! the classic builder kills and removes the running step's container
//! (`rm`/`forcerm` are set, so a failed or cancelled build leaves no
//! container either). The build timeout works the same way. The test suite
//! checks that the step's container really disappears.
//!
//! BuildKit: this engine (Debian's 20.10) has no BuildKit/buildx, and bollard
//! only drives BuildKit through its `buildkit` feature (a gRPC session). The
//! builder version is one parameter here ([`BUILDER`]); switching it to
//! `BuilderBuildKit` with a session id is the way to use BuildKit where it
//! exists, and the output would then arrive as `aux` trace messages instead of
//! `stream` lines.

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::io::ReaderStream;

use super::{DockerRuntime, engine_error, message_of};
use crate::context::{BuildContext, tar_context};
use crate::{
    BuildRequest, BuiltImage, CancellationToken, LABEL_INSTANCE, LABEL_MANAGED, LogLine, LogSink, LogStream,
    RuntimeError,
};

/// The engine's builder (see the module docs about BuildKit).
const BUILDER: BuilderVersion = BuilderVersion::BuilderV1;

impl DockerRuntime {
    pub(super) async fn build_impl(
        &self,
        request: BuildRequest,
        log: LogSink,
        cancel: CancellationToken,
    ) -> Result<BuiltImage, RuntimeError> {
        let slots = self.inner.build_slots.clone();
        let _permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                system(&log, "waiting for a build slot");
                tokio::select! {
                    _ = cancel.cancelled() => return Err(RuntimeError::Cancelled),
                    permit = slots.acquire_owned() => permit
                        .map_err(|_| RuntimeError::Engine("the build slots are closed".to_owned()))?,
                }
            }
        };
        let deadline = Instant::now() + self.inner.config.build_timeout;

        let context_dir = request.context.clone();
        let dockerfile = request.dockerfile.clone();
        let extra_files = request.extra_files.clone();
        let max_bytes = request.max_context_bytes;
        let tarring =
            tokio::task::spawn_blocking(move || tar_context(&context_dir, &dockerfile, &extra_files, max_bytes));
        let context: BuildContext = tokio::select! {
            _ = cancel.cancelled() => return Err(RuntimeError::Cancelled),
            joined = tarring => joined.map_err(|error| RuntimeError::Engine(format!("the context task failed: {error}")))??,
        };
        system(&log, &format!("sending a build context of {} bytes ({} entries)", context.size, context.entries));

        let mut labels: HashMap<String, String> = request.labels.clone().into_iter().collect();
        labels.insert(LABEL_MANAGED.to_owned(), "true".to_owned());
        labels.insert(LABEL_INSTANCE.to_owned(), self.inner.config.instance_label.clone());
        let build_args: HashMap<String, String> = request.build_args.clone().into_iter().collect();
        let options = BuildImageOptionsBuilder::new()
            .dockerfile(&context.dockerfile)
            .t(&request.tag)
            .nocache(request.no_cache)
            .rm(true)
            .forcerm(true)
            .buildargs(&build_args)
            .labels(&labels)
            .version(BUILDER)
            .build();

        let body = bollard::body_try_stream(ReaderStream::new(tokio::fs::File::from_std(context.file)));
        let mut output = self.inner.docker.build_image(options, None, Some(body));
        let mut lines = LineSplitter::default();
        let outcome = loop {
            let item = tokio::select! {
                _ = cancel.cancelled() => break Err(RuntimeError::Cancelled),
                () = tokio::time::sleep_until(deadline) => break Err(RuntimeError::BuildFailed(format!(
                    "the build took longer than {} s and was stopped",
                    self.inner.config.build_timeout.as_secs()
                ))),
                item = output.next() => item,
            };
            match item {
                None => break Ok(()),
                Some(Ok(info)) => {
                    if let Some(chunk) = info.stream {
                        for line in lines.push(&chunk) {
                            emit(&log, LogStream::Stdout, line);
                        }
                    }
                    if let Some(status) = info.status {
                        emit(&log, LogStream::System, status);
                    }
                }
                Some(Err(error @ bollard::errors::Error::DockerStreamError { .. })) => {
                    let message = message_of(&error);
                    emit(&log, LogStream::Stderr, message.clone());
                    break Err(RuntimeError::BuildFailed(message));
                }
                Some(Err(error)) => break Err(map_build_error(error)),
            }
        };
        // Dropping the stream closes the connection, which is what stops the
        // engine's build when we leave early.
        drop(output);
        if let Some(rest) = lines.finish() {
            emit(&log, LogStream::Stdout, rest);
        }
        match &outcome {
            Err(RuntimeError::Cancelled) => system(&log, "build cancelled"),
            Err(RuntimeError::BuildFailed(message)) if message.starts_with("the build took longer") => {
                system(&log, message);
            }
            _ => {}
        }
        outcome?;

        let image = self.inner.docker.inspect_image(&request.tag).await.map_err(|error| {
            RuntimeError::BuildFailed(format!("the build ended without an image: {}", message_of(&error)))
        })?;
        Ok(BuiltImage { image_id: image.id.unwrap_or_default(), tag: request.tag })
    }
}

/// Build-time errors: a 4xx for the request is the build's fault (a bad
/// Dockerfile path, a bad parameter); the rest is the engine's.
fn map_build_error(error: bollard::errors::Error) -> RuntimeError {
    match &error {
        bollard::errors::Error::DockerResponseServerError { status_code, message }
            if (400..500).contains(status_code) && *status_code != 404 =>
        {
            RuntimeError::BuildFailed(message.trim().to_owned())
        }
        _ => engine_error(error),
    }
}

fn system(log: &LogSink, text: &str) {
    emit(log, LogStream::System, text.to_owned());
}

fn emit(log: &LogSink, stream: LogStream, text: String) {
    log(LogLine { stream, text, at: chrono::Utc::now(), instance: None });
}

/// Splits chunks into lines; a line may span chunks. `\r\n` and a lone `\r`
/// (progress redraws) end lines too.
#[derive(Default)]
pub(crate) struct LineSplitter {
    partial: String,
    after_cr: bool,
}

impl LineSplitter {
    pub(crate) fn push(&mut self, chunk: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for ch in chunk.chars() {
            match ch {
                '\n' if self.after_cr => {}
                '\n' | '\r' => lines.push(std::mem::take(&mut self.partial)),
                other => self.partial.push(other),
            }
            self.after_cr = ch == '\r';
        }
        lines
    }

    pub(crate) fn has_partial(&self) -> bool {
        !self.partial.is_empty()
    }

    pub(crate) fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }
}

#[cfg(test)]
mod tests {
    use super::LineSplitter;

    #[test]
    fn lines_span_chunks_and_carriage_returns_end_them() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.push("Step 1/2 : FROM x\n ---> ab"), vec!["Step 1/2 : FROM x"]);
        assert_eq!(splitter.push("c\r\n\nnext"), vec![" ---> abc", ""]);
        assert_eq!(splitter.finish().as_deref(), Some("next"));
        assert_eq!(splitter.finish(), None);
    }
}
