# The line model_status_line() makes (the flowsteer.io/status annotation),
# from an ADD result's flowsteer object (docs/cni.md, "The ADD result's flowsteer object"): the tests'
# expected value, made without the plugin's code.
def count(s): [.devices[] | select(.status == s)] | length;
.flowsteer
| "mode=\(.mode) scope=\(.scope) cpus=\(.cpus)"
  + ([.devices[] | select(.status == "applied" or .status == "partial" or .status == "failed")
      | if .status == "applied" then " \(.name):applied"
        else " \(.name):\(.status)(\(.queuesSet)/\(.queuesTotal)\(if .errno then ",\(.errno)" else "" end))" end]
     | join(""))
  + (if count("partial") > 0
     then " (\(count("applied")) applied, \(count("partial")) partial, \(count("failed")) failed)"
     else " (\(count("applied")) applied, \(count("failed")) failed)" end)
