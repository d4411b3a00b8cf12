# Inputs. None holds a secret value: secrets are created empty in Secrets
# Manager (secrets.tf) and filled out of band (README.md).

variable "aws_region" {
  description = "AWS region of the functions, the HTTP API and the secrets."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Deployment name, part of every resource name (e.g. prod, staging)."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment: lowercase letters, digits and '-', 2 to 16 characters."
  }
}

variable "dist_dir" {
  description = "Where `make lambda` wrote dist/<function>/bootstrap, relative to this directory."
  type        = string
  default     = "../dist"
}

variable "lambda_architecture" {
  description = "Architecture the bootstraps were built for (make lambda builds amd64)."
  type        = string
  default     = "x86_64"
}

variable "lambda_memory_mb" {
  description = "Memory of each function in MB; functions not listed get lambda_default_memory_mb."
  type        = map(number)
  default = {
    submit   = 1024
    pipeline = 1024
    review   = 1024
  }
}

variable "lambda_default_memory_mb" {
  description = "Memory of functions not listed in lambda_memory_mb, in MB."
  type        = number
  default     = 256
}

variable "lambda_timeout_seconds" {
  description = "Timeout of each function; API Gateway answers after 30 s at most."
  type        = map(number)
  default = {
    sign      = 15
    submit    = 29
    pipeline  = 300
    review    = 29
    webhook   = 10
    notify    = 120
    provision = 29
    rotate    = 300
    retention = 60
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch logs."
  type        = number
  default     = 30
}

variable "api_domain" {
  description = "Custom domain of the functions' HTTP API (e.g. functions.example.com); empty for the execute-api URL only."
  type        = string
  default     = ""
}

variable "api_certificate_arn" {
  description = "ACM certificate (same region) for api_domain; required when api_domain is set."
  type        = string
  default     = ""
}

variable "api_throttle_rate" {
  description = "Steady-state requests per second the HTTP API accepts."
  type        = number
  default     = 50
}

variable "api_throttle_burst" {
  description = "Burst of requests the HTTP API accepts."
  type        = number
  default     = 100
}

variable "edge_url" {
  description = "The primary edge node's public URL the functions call with the service credential (https://)."
  type        = string

  validation {
    condition     = startswith(var.edge_url, "https://")
    error_message = "edge_url must be https://: the service credential never crosses a network in clear text."
  }
}

variable "machine_edge_url" {
  description = "The edge's public anycast URL agent Machines use (https://); defaults to edge_url."
  type        = string
  default     = ""
}

variable "signing_key_uri" {
  description = "TRUST_SIGNING_KEY of the functions: a KMS URI such as hashivault://trust-signing (docs/signing.md)."
  type        = string
}

variable "oci_base_layer_arn" {
  description = "Lambda layer holding the pinned base image's OCI layout at /opt/oci-base (submit, pipeline, review); empty for none."
  type        = string
  default     = ""
}

variable "oci_base_image" {
  description = "Digest of the pinned base image (sha256:…)."
  type        = string
  default     = ""
}

variable "registry_url" {
  description = "OCI registry URL skill images are pushed to (https://host/repo)."
  type        = string
  default     = ""
}

variable "schedules" {
  description = "EventBridge schedule expressions of the scheduled functions."
  type        = map(string)
  default = {
    pipeline  = "rate(5 minutes)"   # resume stale submissions
    notify    = "rate(5 minutes)"   # deliver rejection notifications
    rotate    = "cron(0 3 1 * ? *)" # monthly API-key rotation, 03:00 UTC on the 1st
    retention = "rate(1 day)"       # delete SSH audit rows older than 90 days
  }
}

# Fly: the edge app and the agents' Machines.

variable "fly_org" {
  description = "Fly organization slug of the edge app and of every tenant's app."
  type        = string
}

variable "fly_edge_app" {
  description = "Name of the edge app on Fly."
  type        = string
  default     = "openagents-trust-edge"
}

variable "fly_primary_region" {
  description = "Fly region of the LiteFS primary candidates."
  type        = string
  default     = "ams"
}

variable "fly_regions" {
  description = "Fly regions with an edge Machine and volume; include the primary region."
  type        = list(string)
  default     = ["ams", "iad", "sin"]
}

variable "fly_edge_image" {
  description = "The edge image (infra/fly/Dockerfile), pinned by digest."
  type        = string
}

variable "fly_edge_vm_memory_mb" {
  description = "Memory of each edge Machine in MB."
  type        = number
  default     = 1024
}

variable "fly_edge_volume_gb" {
  description = "Size of each edge Machine's LiteFS volume in GB."
  type        = number
  default     = 10
}

variable "fly_deploy" {
  description = "Run flyctl for the edge app (needs flyctl and FLY_API_TOKEN where terraform runs)."
  type        = bool
  default     = true
}

variable "agent_image" {
  description = "Image of the agents' Machines, pinned by digest."
  type        = string
}

variable "agent_region" {
  description = "Fly region of new agent Machines; empty lets Fly choose."
  type        = string
  default     = ""
}

variable "agent_cpu_kind" {
  description = "Guest CPU kind of agent Machines (shared or performance)."
  type        = string
  default     = "shared"
}

variable "agent_cpus" {
  description = "Guest CPUs of agent Machines (1, 2, 4 or 8)."
  type        = number
  default     = 1
}

variable "agent_memory_mb" {
  description = "Guest memory of agent Machines in MB (multiple of 256)."
  type        = number
  default     = 512
}
