"""Browser tests of the demo: Debian's chromium on the billing page and the emulator's pages."""
