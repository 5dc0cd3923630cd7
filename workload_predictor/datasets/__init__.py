"""Bundled real traces.

The Azure LLM inference traces 2023 (conversation and code services, one hour
each, one row per request) from the Azure Public Dataset, licensed CC-BY 4.0.
Cite: Patel et al., "Splitwise: Efficient generative LLM inference using phase
splitting", ISCA 2024. Source: repository ``Azure/AzurePublicDataset``, files
``data/AzureLLMInferenceTrace_conv.csv`` and ``data/AzureLLMInferenceTrace_code.csv``
(bundled verbatim, gzip-compressed).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from ..errors import WorkloadDataError, quote

TRACES = ("conv", "code")


def azure_llm_trace(kind: str = "conv") -> pd.DataFrame:
    """The raw Azure LLM inference trace 2023 as a request log.

    Columns: ``TIMESTAMP`` (string, ``YYYY-MM-DD HH:MM:SS.fffffff``, UTC assumed: the
    trace gives no zone), ``ContextTokens`` (prompt tokens), ``GeneratedTokens``
    (output tokens). ``kind`` is ``"conv"`` (19,366 requests, smooth) or ``"code"``
    (8,819 requests, bursty with gaps). Licence CC-BY 4.0; cite Patel et al.,
    "Splitwise: Efficient generative LLM inference using phase splitting", ISCA 2024.

    Turn it into a bucketed series with ``bucketize(log, freq="10s")``.

    Parameters
    ----------
    kind : {"conv", "code"}
        The service's trace (default ``"conv"``).

    Returns
    -------
    pandas.DataFrame
        One row per request, in the trace's order.

    Raises
    ------
    WorkloadDataError
        An unknown ``kind``.
    """
    if kind not in TRACES:
        raise WorkloadDataError(f"kind={quote(kind)} is unknown; choose 'conv' or 'code'.")
    path = resources.files(__package__).joinpath("data", f"AzureLLMInferenceTrace_{kind}.csv.gz")
    with resources.as_file(path) as file:
        return pd.read_csv(file, dtype={"TIMESTAMP": str, "ContextTokens": "int64", "GeneratedTokens": "int64"})


__all__ = ["azure_llm_trace", "TRACES"]
