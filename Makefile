# The two commands a newcomer needs: `make run` (plugin on the embedded default policy) and `make test`.
SOCKET ?= /run/docker/plugins/image-access.sock

.PHONY: build run test unit e2e test-deps typecheck plugin deb clean bench bench-fleet bench-gateway bench-pace bench-build

# The dockerd versions the real-engine tests run on, each in turn (IA_ENGINE; `make e2e ENGINES=26.1` for one).
ENGINES ?= 20.10 26.1

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

dist/cli.js: node_modules tsconfig.json $(shell find src -name '*.ts')
	npx tsc -p tsconfig.json
	@touch dist/cli.js

# What ships and what `make run` and the real-engine tests run: the sources and their packages bundled (scripts/bundle.js),
# with the V8 code cache of a start under config.json's node flags (scripts/code-cache.js).
bundle/cli.js: dist/cli.js scripts/bundle.js scripts/code-cache.js config.json
	node scripts/bundle.js
	@touch bundle/cli.js

build: bundle/cli.js

run: build
	@# /run/docker/plugins belongs to root: say so instead of failing on a permission error.
	@if [ "$$(id -u)" != 0 ] && [ ! -w "$$(dirname $(SOCKET))" ]; then \
	  echo "make run: $$(dirname $(SOCKET)) is not writable by $$(id -un); run as root, or serve a socket of your own: make run SOCKET=/tmp/image-access.sock (the plugin's --socket)" >&2; exit 1; fi
	node $$(node scripts/node-flags.js) bundle/cli.js --socket $(SOCKET)

typecheck: node_modules
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p test/tsconfig.json --noEmit

test-deps:
	scripts/test-deps.sh

# Everything: unit tests and the real-engine tests on every engine (they start their own dockerd and registry).
test: build typecheck test-deps
	npx jest --ci --selectProjects unit
	@$(MAKE) --no-print-directory e2e

unit: build
	npx jest --ci --selectProjects unit

# Every engine runs even when one fails, so a run shows all failures; the exit status says whether any did.
e2e: build test-deps
	@failed=; for engine in $(ENGINES); do \
	  echo "== real-engine tests on dockerd $$engine"; \
	  IA_ENGINE=$$engine npx jest --ci --selectProjects e2e --runInBand || failed="$$failed $$engine"; \
	done; \
	if [ -n "$$failed" ]; then echo "real-engine tests failed on dockerd$$failed" >&2; exit 1; fi

# The managed plugin: plugin/build/{config.json,rootfs} assembled offline, then created in the daemon at DOCKER_HOST.
PLUGIN_NAME ?= image-access:$(shell node -p "require('./package.json').version")
# plugin/trim-icu.js trims node's ICU data with icupkg and genrb (Debian icu-devtools).
ICU_TOOLS = @command -v icupkg >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y icu-devtools; }
plugin: build
	$(ICU_TOOLS)
	plugin/build.sh plugin/build
	docker plugin create $(PLUGIN_NAME) plugin/build

# The Debian package (CLI, plugin, systemd unit, its own node): packaging/out/image-access_VERSION_ARCH.deb.
deb: build
	$(ICU_TOOLS)
	packaging/build-deb.sh packaging/out

# The Go peers the bench compares with (opa-docker-authz, authz-broker), xz-compressed next to the repository; a
# peer whose files are absent is left out of the tables. IMAGE_ACCESS_BENCH_* set by hand win.
PEERS_DIR ?= ../shared/peers
PEERS_OUT := bench/dist/peers
BENCH_PEERS = $(if $(wildcard $(PEERS_DIR)/opa-docker-authz.xz),IMAGE_ACCESS_BENCH_OPA=$${IMAGE_ACCESS_BENCH_OPA:-$(PEERS_OUT)/opa-docker-authz} IMAGE_ACCESS_BENCH_OPA_POLICY=$${IMAGE_ACCESS_BENCH_OPA_POLICY:-$(PEERS_DIR)/opa-policy.rego}) \
  $(if $(wildcard $(PEERS_DIR)/authz-broker.xz),IMAGE_ACCESS_BENCH_AUTHZ_BROKER=$${IMAGE_ACCESS_BENCH_AUTHZ_BROKER:-$(PEERS_OUT)/authz-broker} IMAGE_ACCESS_BENCH_AUTHZ_BROKER_POLICY=$${IMAGE_ACCESS_BENCH_AUTHZ_BROKER_POLICY:-$(PEERS_DIR)/authz-policy.json})

# The bench compiled into bench/dist, the peers unpacked beside it.
bench-build: build
	npx tsc -p bench/tsconfig.json
	@# The compiled src/ and test/harness under bench/dist take bench/dist for the repository: its package.json
	@# (the version), config.json (the entrypoint) and bundle/ (what ships).
	ln -sf ../../package.json bench/dist/package.json
	ln -sf ../../config.json bench/dist/config.json
	ln -sfn ../../bundle bench/dist/bundle
	@mkdir -p $(PEERS_OUT)
	@for peer in opa-docker-authz authz-broker; do \
	  if [ -f $(PEERS_DIR)/$$peer.xz ] && [ ! $(PEERS_OUT)/$$peer -nt $(PEERS_DIR)/$$peer.xz ]; then \
	    xz -dkc $(PEERS_DIR)/$$peer.xz > $(PEERS_OUT)/$$peer.tmp && chmod +x $(PEERS_OUT)/$$peer.tmp && mv $(PEERS_OUT)/$$peer.tmp $(PEERS_OUT)/$$peer; fi; \
	done

# What the plugin costs every docker command, against the minimal Node plugin and the Go peers, on a real dockerd it
# starts (root; about 15 minutes; not part of `make test`). Writes bench/results/RESULTS.md, results.json and the
# chart. BENCH_QUICK=1 for a tenth of the counts.
bench: bench-build test-deps
	@command -v rsvg-convert >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y librsvg2-bin; }
	$(BENCH_PEERS) node bench/dist/bench/main.js
	node bench/dist/bench/gateway-transfer.js
	@if [ -f bench/dist/bench/fleet-simulation.js ]; then node bench/dist/bench/fleet-simulation.js; fi

# Only CPU per decision at daemon pace (one call at a time), image-access against the minimal plugin and the peers
# (about a minute, no dockerd): PACE_CALLS, PACE_ROUNDS.
bench-pace: bench-build
	$(BENCH_PEERS) node bench/dist/bench/daemon-pace.js

# Only the registry gateway's cost on a large pull (real dockerds, about two minutes): bench/results/gateway.md.
bench-gateway: bench-build test-deps
	node bench/dist/bench/gateway-transfer.js

# Only the fleet simulation (no daemon, about two minutes): what a policy server sees from 100,000 plugins.
bench-fleet: bench-build
	node bench/dist/bench/fleet-simulation.js

clean:
	rm -rf dist bundle plugin/build packaging/out bench/dist
