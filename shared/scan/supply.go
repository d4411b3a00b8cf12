package scan

// registryRE finds a package install pointed at a registry or index by URL.
var registryRE = lazyRE(`(?i)\b(npm|npx|pnpm|yarn|bun|pip3?|uv|poetry|pipx)\b[^\n]*?(--registry[= ]|--(?:extra-)?index-url[= ]|\s-i\s+|config\s+set\s+registry\s+)["']?(https?://[^\s"'\x60)]+)`)

// publicRegistries are the public package registries and their well-known
// mirrors. Suffix match on dots.
var publicRegistries = []string{"registry.npmjs.org", "registry.yarnpkg.com", "npmmirror.com", "pypi.org", "pypi.python.org",
	"files.pythonhosted.org", "pythonhosted.org", "mirrors.aliyun.com", "mirrors.cloud.tencent.com", "pypi.tuna.tsinghua.edu.cn",
	"mirrors.tuna.tsinghua.edu.cn", "repo.huaweicloud.com", "npm.pkg.github.com", "pkgs.dev.azure.com", "download.pytorch.org",
	"registry.bun.sh", "jsr.io"}

// registries flags installs from a registry that is neither a public one nor
// the user's own machine: a shadow registry serves its own code under the
// names of well-known packages.
func (s *scanner) registries(name string, first int, d *doc) {
	for _, li := range d.linesWith("registry", "index-url", " -i ") {
		line := d.line(li)
		for _, m := range registryRE().FindAllStringSubmatch(line, 4) {
			host := hostOf(m[3])
			if host == "" || hostMatches(host, publicRegistries) || reputation(host) == repLocal {
				continue
			}
			s.add(Finding{RuleID: "DP002", Category: CatDependencies, Severity: High, File: name, Line: first + li, Evidence: truncate(m[0]),
				Why: "installs packages from a registry that is not a public one (" + host + "): it can serve its own code under well-known package names"})
		}
	}
}
