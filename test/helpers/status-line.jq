# The line model_status_line() makes (the flowsteer.io/status annotation),
# from an ADD result's flowsteer object (docs/cni.md, "The ADD result's flowsteer object"): the tests'
# expected value, made without the plugin's code.
.flowsteer
| "mode=\(.mode) scope=\(.scope) cpus=\(.cpus)"
  + ([.devices[] | select(.status == "applied" or .status == "failed") | " \(.name):\(.status)"] | join(""))
  + " (\([.devices[] | select(.status == "applied")] | length) applied, \([.devices[] | select(.status == "failed")] | length) failed)"
