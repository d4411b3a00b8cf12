// Package e2e holds end-to-end tests that drive the product's pages in a
// real headless Chromium (shared/cdp): the user's Agent status page on a
// real edge node, and the reviewers' queue on the functions wired to one.
// They are tagged integration and named TestIntegration…:
//
//	go test -tags integration -run Integration ./e2e/
//
// They skip, saying so, when /usr/bin/chromium is absent
// (apt-get install -y chromium). Screenshots and exports are saved under
// $TRUST_TEST_OUTPUT/<test name> when set, or the test's temporary directory.
package e2e
