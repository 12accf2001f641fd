"""A template task: run it once to record it, then clone and edit it (see programmatic_orchestration.py).

    python examples/toy_base_task.py
"""
from localtask import Task

task = Task.init(project_name="examples", task_name="Toy Base Task")

# connect() records the parameters; when a worker runs an edited clone, the stored values
# replace these defaults in place, so this unchanged script picks them up.
params = {"Example_Param": 1}
task.connect(params)

result = params["Example_Param"] * 10
print(f"Example_Param = {params['Example_Param']!r} -> result = {result}")
task.get_logger().report_scalar("result", "value", result, 0)
