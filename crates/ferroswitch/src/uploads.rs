//! Upload of finished recordings to S3-compatible object storage
//! (`object_store`), so the webhook can carry a URL the CRM reaches
//! without the switch's admin token. The local file stays (the store is a
//! copy), and a failed upload falls back to the local URL.

use anyhow::{Context, Result};
use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub struct S3 {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    public_base: String,
}

impl S3 {
    /// From the `[recordings]` settings; `None` when no bucket is set.
    pub fn from_config(c: &crate::config::Recordings) -> Result<Option<Arc<S3>>> {
        if c.s3_bucket.is_empty() {
            return Ok(None);
        }
        // Credentials and region not configured here come from the usual
        // AWS_* environment variables.
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&c.s3_bucket);
        if !c.s3_region.is_empty() {
            b = b.with_region(&c.s3_region);
        }
        if !c.s3_endpoint.is_empty() {
            b = b.with_endpoint(&c.s3_endpoint).with_allow_http(c.s3_endpoint.starts_with("http://")).with_virtual_hosted_style_request(false);
        }
        if !c.s3_access_key.is_empty() {
            b = b.with_access_key_id(&c.s3_access_key).with_secret_access_key(&c.s3_secret_key);
        }
        let store = b.build().context("recordings.s3_*: cannot configure the object store")?;
        let public_base = if !c.s3_public_url.is_empty() {
            c.s3_public_url.trim_end_matches('/').to_owned()
        } else if !c.s3_endpoint.is_empty() {
            format!("{}/{}", c.s3_endpoint.trim_end_matches('/'), c.s3_bucket)
        } else {
            let region = if c.s3_region.is_empty() { "us-east-1" } else { &c.s3_region };
            format!("https://{}.s3.{region}.amazonaws.com", c.s3_bucket)
        };
        Ok(Some(Arc::new(S3 { store: Arc::new(store), prefix: c.s3_prefix.trim_matches('/').to_owned(), public_base })))
    }

    fn key(&self, file: &str) -> String {
        if self.prefix.is_empty() {
            file.to_owned()
        } else {
            format!("{}/{file}", self.prefix)
        }
    }

    /// Upload `path` (streamed, multipart for large files); the object's URL.
    pub async fn upload(&self, path: &std::path::Path) -> Result<String> {
        let file = path.file_name().and_then(|f| f.to_str()).context("recording without a file name")?.to_owned();
        let key = self.key(&file);
        let mut src = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
        let mut dst = object_store::buffered::BufWriter::new(self.store.clone(), object_store::path::Path::from(key.as_str()));
        tokio::io::copy(&mut src, &mut dst).await.context("uploading")?;
        dst.shutdown().await.context("finishing the upload")?;
        Ok(format!("{}/{key}", self.public_base))
    }

    /// Upload with a few retries (1 s, 2 s, 4 s apart).
    pub async fn upload_retrying(&self, path: &std::path::Path) -> Result<String> {
        let mut last = None;
        for attempt in 0..4u32 {
            match self.upload(path).await {
                Ok(url) => return Ok(url),
                Err(e) => {
                    tracing::warn!(path = %path.display(), attempt, error = %format!("{e:#}"), "recording upload failed");
                    last = Some(e);
                    if attempt < 3 {
                        tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("upload failed")))
    }
}
