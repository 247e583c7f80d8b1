# mailticket: `make demo` runs the main job on the embedded default; `make test` installs and tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MT := $(abspath $(VENV))/bin/mailticket
DEMO := var/demo

.PHONY: install demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	@rm -rf $(DEMO) && mkdir -p $(DEMO)/var/mail/cur $(DEMO)/var/mail/tmp $(DEMO)/var/mail/new
	@i=0; for f in tests/data/demo/*.eml; do i=$$((i+1)); \
	  cp "$$f" "$(DEMO)/var/mail/new/1764050000.M$$(printf %06d $$i)P1.demo"; done
	@echo "== a Maildir inbox with $$(ls $(DEMO)/var/mail/new | wc -l) messages in $(DEMO)/var/mail; running 'mailticket run --once' there (embedded default: no config file)"
	@cd $(DEMO) && $(MT) run --once
	@echo; echo "== mailticket tickets list"; cd $(DEMO) && $(MT) tickets list
	@echo; echo "== mailticket mail list  (kept, no ticket)"; cd $(DEMO) && $(MT) mail list
	@echo; echo "== first acknowledgement in $(DEMO)/var/outbox:"
	@$(PY) -m mailticket.cli.showmail "$$(ls -d $(DEMO)/var/outbox/*-ack.eml | head -1)"
	@echo; echo "== the demo's files are in $(DEMO)/var: mail/ (the Maildir inbox), mailticket.db (SQLite),"
	@echo "   outbox/ (every mail it sent, as .eml). Try next (mailticket is $(MT)):"
	@echo "     cd $(DEMO) && mailticket tickets show LPSE#1   one ticket with its messages and events"
	@echo "     mailticket tickets list --json                 the register as JSON"
	@echo "     mailticket digest --preview                    the coordinators' daily digest"
	@echo "     mailticket status                              health (exit 1 now: no daemon is running)"
	@echo "     mailticket check                               what the daemon needs, checked"
	@echo "   For real mail: README, \"Running under systemd\" and docs/operator.md."

test: install
	tests/servers/install.sh
	$(VENV)/bin/ruff check mailticket tests bench
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check mailticket tests bench

bench: install
	$(PY) bench/ingest.py

clean:
	rm -rf var build *.egg-info .pytest_cache
