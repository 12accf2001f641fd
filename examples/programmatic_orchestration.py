"""Clone the template task, edit a parameter and put the clone on a queue, with no server.

    python examples/programmatic_orchestration.py
    localtask worker --queue default --burst      # runs the clone
"""
from localtask import Task

template_task = Task.get_task(project_name="examples", task_name="Toy Base Task")

cloned_task = Task.clone(source_task=template_task, name="Auto generated cloned task")
cloned_task.set_parameter("General/Example_Param", 3)
Task.enqueue(cloned_task.id, queue_name="default")

print(f"template {template_task.id} ({template_task.status})")
print(f"clone    {cloned_task.id} ({cloned_task.status}) parent={cloned_task.parent} "
      f"General/Example_Param={cloned_task.get_parameters()['General/Example_Param']!r}")
