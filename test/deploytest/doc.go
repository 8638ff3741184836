// Package deploytest holds only tests: template.yaml against the code (routes,
// environment, table, IAM) and the functions/* bootstraps run as Lambda runs them, under
// AWS's Lambda Runtime Interface Emulator.
package deploytest
