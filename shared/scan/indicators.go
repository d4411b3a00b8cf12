package scan

// indicator is one literal matched by the Aho-Corasick automaton, lowercased.
type indicator struct {
	text     string
	rule     string
	category string
	severity Severity
	why      string
}

var indicators = func() []indicator {
	var out []indicator
	for _, h := range pasteHosts {
		out = append(out, indicator{h + "/", "IN001", CatDownloads, High, "link to a paste or file-drop site: payloads hosted there change after review"})
	}
	for _, h := range []string{"webhook.site", "requestbin", "pipedream.net", "ngrok.io", "ngrok-free.app", "ngrok-free.dev", "ngrok.app", "ngrok.dev", "serveo.net", "loca.lt", "pinggy.link", "discord.com/api/webhooks", "discordapp.com/api/webhooks", "api.telegram.org/bot", "interact.sh", "oast.fun", "burpcollaborator.net"} {
		out = append(out, indicator{h, "IN002", CatCredentials, High, "exfiltration endpoint (request catcher, chat webhook or tunnel)"})
	}
	for _, s := range []string{"/dev/tcp/", "/dev/udp/", "mkfifo /tmp/", "nc -e ", "ncat -e ", "socat exec:", "bash -i >&"} {
		out = append(out, indicator{s, "IN003", CatMaliciousCode, Critical, "reverse-shell construct"})
	}
	for _, s := range []string{"xattr -d com.apple.quarantine", "xattr -c ", "spctl --master-disable", "osascript -e 'display dialog"} {
		out = append(out, indicator{s, "IN004", CatMaliciousCode, High, "defeats macOS Gatekeeper or fakes a password prompt (Atomic Stealer technique)"})
	}
	for _, s := range []string{"169.254.169.254", "metadata.google.internal", "169.254.170.2", "fd00:ec2::254"} {
		out = append(out, indicator{s, "IN005", CatCredentials, High, "cloud instance metadata endpoint: it hands out the machine's cloud credentials"})
	}
	return out
}()
