//! Content discovery: announcing that this node has a piece of content,
//! and finding the verified Meshara contacts of the nodes that have it.
//!
//! Provider records name DHT nodes (160-bit id + UDP address), not
//! Meshara nodes. The bridge is the [`MesharaBinding`]: the DHT node's own
//! empty-salt record (key = its DHT node id), doubly signed, naming the
//! Meshara key it speaks for. A finder goes
//! `content hash -> providers (DHT ids) -> binding -> Meshara contact`,
//! verifying at each step; nothing a provider says is believed unsigned.

use bytes::Bytes;

use super::adapter::MesharaDht;
use super::contact::{content_key, ContactInfo, MesharaBinding};
use super::error::{AdvertiseError, LookupError};
use super::traits::meshara_id_of;
use crate::id::NodeId;
use crate::runtime::PutReport;

impl MesharaDht {
    /// Announces that this node has the content whose hash is `hash`.
    ///
    /// The DHT stores this node's DHT contact as a provider of
    /// `content_key(hash)`; the first announcement also stores the
    /// [`MesharaBinding`] that lets finders turn that DHT contact into this
    /// node's Meshara contact (see `docs/MESHARA.md`).
    pub async fn announce_content(&self, hash: &[u8; 32]) -> Result<PutReport, AdvertiseError> {
        self.publish_binding().await?;
        Ok(self.dht().add_provider(content_key(hash)).await?)
    }

    async fn publish_binding(&self) -> Result<(), AdvertiseError> {
        if self.binding_published() {
            return Ok(());
        }
        let dht = self.dht();
        let binding = MesharaBinding::sign(self.signer(), &dht.node_id());
        let record = dht.sign(Bytes::new(), self.next_seq(), binding.encode()?)?;
        dht.put_mutable(record).await?;
        self.set_binding_published();
        Ok(())
    }

    /// The verified Meshara contacts of the providers of `hash`, in the
    /// order the DHT returned them, one per Meshara node. Providers whose
    /// binding or contact does not verify are left out.
    pub async fn find_providers(&self, hash: &[u8; 32]) -> Result<Vec<ContactInfo>, LookupError> {
        self.note_lookup();
        let providers = self.dht().get_providers(content_key(hash)).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, p) in providers
            .into_iter()
            .take(self.config().max_providers)
            .enumerate()
        {
            let this = self.clone();
            tasks.spawn(async move { (i, this.resolve_provider(p.id).await) });
        }
        let mut found = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, Ok(Some(info)))) => found.push((i, info)),
                Ok((_, Ok(None))) => {}
                Ok((_, Err(e))) => tracing::debug!(error = %e, "provider lookup failed"),
                Err(e) => tracing::debug!(error = %e, "provider task failed"),
            }
        }
        found.sort_by_key(|(i, _)| *i);
        let mut seen = std::collections::HashSet::new();
        Ok(found
            .into_iter()
            .map(|(_, info)| info)
            .filter(|info| seen.insert(info.meshara_id()))
            .collect())
    }

    /// DHT provider -> its binding -> the Meshara contact it names.
    async fn resolve_provider(&self, dht_node: NodeId) -> Result<Option<ContactInfo>, LookupError> {
        self.note_lookup();
        let Some(record) = self.dht().get_mutable(dht_node).await? else {
            return Ok(None);
        };
        let binding = match MesharaBinding::from_record(&record, &dht_node) {
            Ok(b) => b,
            Err(e) => {
                self.note_rejected();
                tracing::debug!(%dht_node, error = %e, "provider binding not believed");
                return Ok(None);
            }
        };
        let id = meshara_id_of(&binding.public_key);
        self.find_peer(&id).await
    }
}
