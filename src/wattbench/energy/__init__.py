"""Energy and hardware measurement: meters (NVML, RAPL), a power sampler, hardware facts, derived figures."""
