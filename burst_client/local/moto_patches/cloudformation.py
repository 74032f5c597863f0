"""CloudFormation gaps: what `sls deploy` of the framework's stack needs (ValidateTemplate, Fn::Sub,
change sets, state machine resources)."""

from __future__ import annotations

import functools
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.models import CloudFormationBackend
from moto.stepfunctions import responses
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.utils import cfn_to_api_tags

from burst_client.local.moto_patches.registry import Undo, patch, undo_all, workaround


@workaround("validate-template-ignores-warnings")
def _apply_validate_template_ignores_warnings() -> Undo:
    """Gap 1: ValidateTemplate fails on cfn-lint warnings (W3005 on the role serverless-step-functions generates)

    CloudFormation ValidateTemplate runs cfn-lint and fails on the first match of *any* level, warnings included
    (moto.cloudformation.responses.validate_template). The role serverless-step-functions generates has a DependsOn that
    cfn-lint flags with W3005 ("Obsolete DependsOn ..."), so `sls deploy` stops with "Stack with id ... dependency
    already enforced by a 'GetAtt' ... does not exist". AWS does not lint templates at all; keep cfn-lint's errors (E*)
    and drop its warnings and informational matches.
    """
    original = CloudFormationBackend.validate_template

    @functools.wraps(original)
    def validate_template(self: CloudFormationBackend, template: str) -> list[Any]:
        matches = original(self, template)
        return [m for m in matches if str(getattr(getattr(m, "rule", None), "id", "E")).startswith("E")]

    return patch(CloudFormationBackend, "validate_template", validate_template)


@workaround("sub-with-digit-variables")
def _apply_sub_with_digit_variables() -> Undo:
    """Gap 2: Fn::Sub variable names starting with a digit are not substituted (KeyError, HTTP 500)

    `Fn::Sub: [template, {variables}]` is substituted with string.Template, whose identifiers cannot start with a digit
    (moto.cloudformation.parsing.clean_json). serverless-step-functions names the variables of a state machine
    definition after md5 hex digests (e.g. ${0f3e...}), which are then left in place and resolved as Ref to a resource
    that does not exist: KeyError, HTTP 500 on CreateStack/ExecuteChangeSet. Substitute the variable map ourselves, then
    let moto resolve the rest (${Resource}, ${AWS::Region}, ${!x}).
    """
    original = parsing.clean_json

    @functools.wraps(original)
    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and isinstance(resource_json.get("Fn::Sub"), list):
            template, variables = resource_json["Fn::Sub"]
            if isinstance(template, str) and isinstance(variables, dict):
                for key, value in variables.items():
                    template = template.replace("${" + key + "}", str(clean_json(value, resources_map)))
                return original({"Fn::Sub": template}, resources_map)
        return original(resource_json, resources_map)

    return patch(parsing, "clean_json", clean_json)


@workaround("change-set-refreshes-outputs")
def _apply_change_set_refreshes_outputs() -> Undo:
    """Gap 3: DescribeStacks has no Outputs after a change-set deploy

    ExecuteChangeSet updates the stack's resources but not its outputs (nor its parsed template), so DescribeStacks has
    no Outputs after a change-set deploy, which is how osls deploys. serverless-step-functions then crashes with "Cannot
    read properties of undefined (reading 'filter')". Rebuild the outputs afterwards.
    """
    original = CloudFormationBackend.execute_change_set

    @functools.wraps(original)
    def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        # the change set named so (by ARN, or by name, which several stacks may share): refreshing the
        # outputs of a stack the call did not touch is harmless
        executed = [cs for arn, cs in self.change_sets.items() if change_set_name in (arn, cs.change_set_name)]
        for change_set in executed:
            stack = self.stacks.get(change_set.stack_id)
            if stack is not None:
                stack._parse_template()
                stack.description = stack.template_dict.get("Description")
                stack.output_map = stack._create_output_map()

    return patch(CloudFormationBackend, "execute_change_set", execute_change_set)


@workaround("cfn-state-machines-in-executing-backend")
def _apply_cfn_state_machines_in_executing_backend() -> Undo:
    """Gap 4: state machines created by CloudFormation are invisible when execution is switched on

    AWS::StepFunctions::StateMachine resources are always created in (and updated/deleted from) the plain stepfunctions
    backend (moto.stepfunctions.models.StateMachine.*_from_cloudformation_json), while with {"stepfunctions":
    {"execute_state_machine": true}} the API is served by the *parser* backend: state machines deployed by
    CloudFormation are invisible to DescribeStateMachine/StartExecution (StateMachineDoesNotExist). Route the
    CloudFormation handlers to the backend the API uses.
    """

    def create(
        cls: type[StateMachine],
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> StateMachine:
        properties = cloudformation_json["Properties"]
        backend = responses.get_backend(account_id, region_name)
        return backend.create_state_machine(
            properties.get("StateMachineName", resource_name),
            properties.get("DefinitionString", ""),
            properties.get("RoleArn", ""),
            tags=cfn_to_api_tags(properties.get("Tags", [])),
        )

    def delete(
        cls: type[StateMachine],
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> None:
        responses.get_backend(account_id, region_name).delete_state_machine(resource_name)

    def update(  # noqa: PLR0917 - moto's signature
        cls: type[StateMachine],
        /,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> StateMachine:
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("StateMachineName", original_resource.name)
        if name != original_resource.name:  # replacement
            cloudformation_json["Properties"] = original_resource.get_cfn_properties(properties)
            new_resource = create(cls, name, cloudformation_json, account_id, region_name)
            delete(cls, original_resource.arn, cloudformation_json, account_id, region_name)
            return new_resource
        backend = responses.get_backend(account_id, region_name)
        state_machine = backend.update_state_machine(
            original_resource.arn,
            definition=properties.get("DefinitionString"),
            role_arn=properties.get("RoleArn"),
        )
        backend.tagger.tag_resource(state_machine.arn, cfn_to_api_tags(properties.get("Tags", [])))
        return state_machine

    undos = [
        patch(StateMachine, "create_from_cloudformation_json", classmethod(create)),
        patch(StateMachine, "delete_from_cloudformation_json", classmethod(delete)),
        patch(StateMachine, "update_from_cloudformation_json", classmethod(update)),
    ]
    return undo_all(undos)
