# The key-encryption key and the credentials.
#
# One customer-managed KMS key encrypts the secrets and the functions'
# environment. Each secret is created here EMPTY: its value is put out of band
# (README.md, `aws secretsmanager put-secret-value`), never in a .tf file, a
# variable default or the command line of terraform.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "trust" {
  description             = "openagents-trust ${var.environment}: Secrets Manager secrets and Lambda environment"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "trust" {
  name          = "alias/openagents-trust-${var.environment}"
  target_key_id = aws_kms_key.trust.key_id
}

locals {
  # Secret name → the environment variable it becomes in the functions
  # that need it.
  secrets = {
    service-token         = "TRUST_SERVICE_TOKEN"
    operator-token        = "TRUST_OPERATOR_TOKEN"
    reviewer-token        = "TRUST_REVIEWER_TOKEN"
    stripe-webhook-secret = "TRUST_STRIPE_WEBHOOK_SECRET"
    fly-api-token         = "FLY_API_TOKEN"
    # The edge's key-encryption key for API keys (docs/apikeys.md), base64;
    # read by flyctl for the edge app only (fly.tf), never by a function.
    edge-kek = "TRUST_KEK_B64"
  }
}

resource "aws_secretsmanager_secret" "trust" {
  for_each = local.secrets

  name                    = "openagents-trust/${var.environment}/${each.key}"
  description             = "openagents-trust ${each.value}; value put out of band"
  kms_key_id              = aws_kms_key.trust.arn
  recovery_window_in_days = 7
}

# The current values, read at apply time. They end up in the functions'
# KMS-encrypted environment and in the state (keep the state encrypted:
# versions.tf). Apply fails closed while a secret has no value yet.
data "aws_secretsmanager_secret_version" "trust" {
  for_each = local.secrets

  secret_id = aws_secretsmanager_secret.trust[each.key].id
}

locals {
  secret_env = { for k, v in local.secrets : v => data.aws_secretsmanager_secret_version.trust[k].secret_string }
}
