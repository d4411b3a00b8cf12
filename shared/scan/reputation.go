package scan

import (
	"net"
	"net/url"
	"strings"
)

type rep int

const (
	repUnknown rep = iota
	repLocal       // loopback: an installer from here is the user's own
	repVendor      // a vendor's official install host
	repRawIP       // a public IP address
	repPaste       // a paste or file-drop site
)

// vendorHosts are well-known official installer hosts. Suffix match on dots.
var vendorHosts = []string{
	"sh.rustup.rs", "get.docker.com", "brew.sh", "raw.githubusercontent.com/homebrew", "deb.nodesource.com",
	"bun.sh", "deno.land", "get.pnpm.io", "install.python-poetry.org", "astral.sh", "sdk.cloud.google.com",
	"cli.github.com", "get.helm.sh", "raw.githubusercontent.com/nvm-sh", "ollama.com", "ollama.ai",
	"claude.ai", "anthropic.com", "fly.io", "vercel.com", "supabase.com", "cloudflare.com", "get.sdkman.io",
	"install.determinate.systems", "nixos.org", "pyenv.run", "starship.rs", "tailscale.com", "opencode.ai",
	"awscli.amazonaws.com", "k3s.io", "get.k3s.io", "dl.google.com", "go.dev", "nodejs.org", "npmjs.com",
	"cursor.com", "mise.run", "sh.uv", "foundry.paradigm.xyz", "railway.app", "deno.com", "convex.dev",
}

// knownOrgs are GitHub organizations whose raw files count as vendor hosts.
var knownOrgs = []string{
	"homebrew", "nvm-sh", "rust-lang", "docker", "anthropics", "microsoft", "google", "vercel", "cloudflare",
	"astral-sh", "oven-sh", "denoland", "pnpm", "golang", "kubernetes", "helm", "aws", "github", "openai",
	"ohmyzsh", "junegunn", "pyenv", "tj", "sdkman", "nektos", "superfly", "supabase", "foundry-rs",
}

var pasteHosts = []string{
	"glot.io", "pastebin.com", "paste.ee", "hastebin.com", "ghostbin.com", "rentry.co", "rentry.org",
	"transfer.sh", "file.io", "0x0.st", "temp.sh", "anonfiles.com", "gofile.io", "catbox.moe",
	"controlc.com", "justpaste.it", "dpaste.org", "paste.rs", "termbin.com", "ix.io", "sprunge.us",
}

func hostOf(u string) string {
	p, err := url.Parse(strings.TrimRight(u, ".,;:"))
	if err != nil {
		return ""
	}
	return strings.ToLower(p.Hostname())
}

func hostMatches(host string, list []string) bool {
	for _, h := range list {
		if i := strings.IndexByte(h, '/'); i >= 0 {
			continue
		}
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

// reputation judges a destination host.
func reputation(host string) rep {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return repLocal
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		if ip.IsLoopback() || ip.IsUnspecified() {
			return repLocal
		}
		if ip.IsPrivate() || ip.IsLinkLocalUnicast() {
			return repUnknown
		}
		return repRawIP
	}
	if hostMatches(host, pasteHosts) {
		return repPaste
	}
	if hostMatches(host, vendorHosts) {
		return repVendor
	}
	return repUnknown
}

// urlReputation also looks at the path, for raw.githubusercontent.com/<org>.
func urlReputation(u string) rep {
	host := hostOf(u)
	r := reputation(host)
	if r != repUnknown {
		return r
	}
	if host == "raw.githubusercontent.com" || host == "github.com" {
		p, err := url.Parse(u)
		if err == nil {
			org := strings.ToLower(strings.SplitN(strings.TrimPrefix(p.Path, "/"), "/", 2)[0])
			for _, o := range knownOrgs {
				if org == o {
					return repVendor
				}
			}
		}
	}
	return repUnknown
}
