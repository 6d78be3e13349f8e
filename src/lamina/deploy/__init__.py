"""Templates to running resources: SAM / CloudFormation / serverless.yml loading (:mod:`.template`)
and the deploy engine that plans and applies a :class:`~lamina.deploy.model.Stack` (:mod:`.engine`)."""
