"""The original design's serverless shape on AWS: function handlers, the deployment
template, packaging and deployment."""
