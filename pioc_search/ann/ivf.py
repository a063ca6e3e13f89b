"""Approximate search for large versions: an inverted file (IVF) over float16 codes.

k-means splits the vectors into `nlist` ≈ √n lists; a question scans the `nprobe` lists whose centroids
are closest. Chosen over HNSW because it supports removing vectors (an incremental ingest changes
a large version in place, where HNSW would rebuild its graph: minutes per million) and trains and
fills in seconds; codes stay float16, so `reconstruct` gives what the exact index gives.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from pioc_search.ann.base import DenseIndex

TRAIN_PER_LIST = 40  # k-means sample per list (FAISS warns below 39)
# Lists one question scans: 1/40 of them, at least 16 (16 of 316 at 100k, 25 of 1,000 at 1M passages):
# recall@10 against exact 0.998 at 100k and 1.000 at 1M on clustered real-model vectors (docs/performance.md).
PROBE_SHARE = 1 / 40
MIN_PROBE = 16


def list_count(count: int) -> int:
    """√n lists: a question scans a few thousand vectors per list at a million."""
    return max(1, int(round(math.sqrt(count))))


class IVFIndex(DenseIndex):
    """IndexIVFScalarQuantizer (fp16, inner product) with a hashtable direct map (reconstruct, remove by id)."""

    name = "ivf"
    post_filter_share = 0.2  # 100k: 0.6 allowed 1.50 → 0.65 ms, 0.23 1.10 → 1.41; 1M: 0.23 14.6 → 6.2 ms

    @classmethod
    def empty(cls, dimension: int) -> IVFIndex:
        raise ValueError("an IVF index is trained on its vectors: use IVFIndex.build")

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray) -> IVFIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        nlist = list_count(len(vectors))
        quantizer = faiss.IndexFlatIP(vectors.shape[1])
        index = faiss.IndexIVFScalarQuantizer(quantizer, vectors.shape[1], nlist, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        sample = np.random.default_rng(0).permutation(len(vectors))[: TRAIN_PER_LIST * nlist]
        index.train(vectors[np.sort(sample)])
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        index.own_fields = True
        quantizer.this.disown()
        built = cls(index)
        for start in range(0, len(vectors), 100_000):
            built.add(vectors[start : start + 100_000], ids[start : start + 100_000])
        return built

    @staticmethod
    def accepts(index: faiss.Index) -> bool:
        return isinstance(index, faiss.IndexIVF)

    @property
    def nprobe(self) -> int:
        return min(self.index.nlist, max(MIN_PROBE, math.ceil(self.index.nlist * PROBE_SHARE)))

    def suits(self, count: int) -> bool:
        """The lists fit while the count stays within a factor 4 of the one they were trained for."""
        return list_count(count // 4) <= self.index.nlist <= list_count(count * 4)

    def ids(self) -> np.ndarray:
        lists = self.index.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                 for i in range(self.index.nlist) if lists.list_size(i)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def _params(self, k: int, allowed: int | None, exhaustive: bool) -> faiss.SearchParameters:
        """A filter passing a share s of the vectors scans 1/s times more lists, so about as many
        passing vectors are scored as without it; exhaustive scans every list."""
        nlist = self.index.nlist
        probe = self.nprobe
        if allowed is not None:
            probe = math.ceil(probe * self.ntotal / max(1, allowed))
        return faiss.SearchParametersIVF(nprobe=nlist if exhaustive else min(nlist, probe))
