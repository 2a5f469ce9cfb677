"""Use cases. Front doors (HTTP API, git, web, CLI) call these; these use storage. No HTTP here."""
