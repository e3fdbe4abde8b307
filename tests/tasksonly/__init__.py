"""An app that defines a Django task and imports it when it is ready, as many projects do:
the tasks checks' own tests use it where jobman is left out of INSTALLED_APPS."""
