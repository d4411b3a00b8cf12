#!/bin/bash
# Test sample: a classic fork bomb. The sandbox's process limit must stop it.
bomb() { bomb | bomb & }
bomb
