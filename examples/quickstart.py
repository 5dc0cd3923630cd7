"""Quick start: forecast the next 10 buckets of the bundled Azure conversation trace."""

from workload_predictor import WorkloadPredictor, bucketize
from workload_predictor.datasets import azure_llm_trace

log = azure_llm_trace("conv")  # one row per request (Azure 2023, CC-BY 4.0)
series = bucketize(log, freq="10s").iloc[1:-1]  # drop the partial first and last buckets
predictor = WorkloadPredictor(model="ensemble", horizon=10, level=0.9, random_state=0)
predictor.fit(series, timestamp="timestamp", target=["requests", "input_tokens", "output_tokens"])
forecast = predictor.predict(steps=10)
print(forecast.to_frame()["requests"].round(1))
weights = {name: round(weight, 2) for name, weight in predictor.weights_.items()}
print(f"confidence {forecast.confidence:.2f}, weights {weights}")
