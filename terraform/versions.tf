# Providers: hashicorp/aws for the AWS side, hashicorp/archive to zip the
# `make lambda` binaries. The edge on Fly is driven by flyctl from a
# terraform_data resource (fly.tf): no maintained Fly provider exists.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }

  # State holds the secret values read from Secrets Manager (secrets.tf):
  # keep it in an encrypted, access-controlled backend, e.g.
  #   backend "s3" { bucket = "…" key = "trust/terraform.tfstate" region = "…" encrypt = true kms_key_id = "…" use_lockfile = true }
  # configured with `terraform init -backend-config=…`.
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      project     = "openagents-trust"
      environment = var.environment
    }
  }
}
