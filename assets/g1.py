"""``g1_motions``: where the Unitree G1 retargeting of stage [5/6] plugs into the graph.

Not built yet, so it is declared as an asset spec (no compute): the asset graph shows it
downstream of the SMPL motions, and it cannot be materialised until [5/6] gives it a body.
"""

import dagster as dg

from assets.amass import amass_motions

g1_motions = dg.AssetSpec(
    key="g1_motions",
    deps=[amass_motions],
    group_name="retargeting",
    code_version="unbuilt",
    kinds={"python"},
    description="NOT BUILT YET (stage [5/6]): the SMPL .motion files retargeted to the Unitree G1 humanoid. "
    "Shown so the graph says where it goes; it has no computation and cannot be materialised.",
)
