# The edge app on Fly. No maintained Terraform provider for Fly exists (the
# official one was archived in 2024; the community fork cannot set an app's
# network), so terraform runs flyctl through infra/fly/deploy.sh: create the
# app, one LiteFS volume per region, import the edge's secrets from stdin,
# deploy infra/fly/fly.toml with the pinned image, and scale to one Machine
# per region. It runs again when the configuration or the image changes.

locals {
  fly_dir = "${path.module}/../infra/fly"
}

resource "terraform_data" "fly_edge" {
  count = var.fly_deploy ? 1 : 0

  triggers_replace = {
    fly_toml  = filesha256("${local.fly_dir}/fly.toml")
    litefs    = filesha256("${path.module}/../infra/litefs.yml")
    deploy    = filesha256("${local.fly_dir}/deploy.sh")
    image     = var.fly_edge_image
    regions   = join(",", var.fly_regions)
    memory_mb = var.fly_edge_vm_memory_mb
    volume_gb = var.fly_edge_volume_gb
    # Hashes only: a rotated secret redeploys without its value in state twice.
    secrets = sha256(join("\n", [local.secret_env["TRUST_SERVICE_TOKEN"], local.secret_env["TRUST_KEK_B64"]]))
  }

  provisioner "local-exec" {
    command = "${local.fly_dir}/deploy.sh"

    environment = {
      FLY_APP            = var.fly_edge_app
      FLY_ORG            = var.fly_org
      FLY_PRIMARY_REGION = var.fly_primary_region
      FLY_REGIONS        = join(" ", var.fly_regions)
      FLY_IMAGE          = var.fly_edge_image
      FLY_VM_MEMORY_MB   = tostring(var.fly_edge_vm_memory_mb)
      FLY_VOLUME_GB      = tostring(var.fly_edge_volume_gb)
      FLY_CONFIG         = "${local.fly_dir}/fly.toml"
      # Sensitive: terraform does not print them; deploy.sh passes them to
      # `flyctl secrets import` on stdin, never on a command line.
      EDGE_SERVICE_TOKEN = local.secret_env["TRUST_SERVICE_TOKEN"]
      EDGE_KEK_B64       = local.secret_env["TRUST_KEK_B64"]
    }
  }
}
