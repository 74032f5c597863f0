"""burst_core: the code the burst-compute Lambda functions share.

Everything here runs inside AWS Lambda (or the local endpoint's Lambda runtime). Client-side code
(CLI, SDK, local endpoint, plotting) lives in ``burst_client`` and is never packaged for Lambda.
"""

__version__ = "0.1.0"
