'use strict';

// {{service}}'s plugin for osls (made by `burst init`):
// * declares the --org option that serverless.yml reads with ${opt:org} (osls refuses options it does not
//   know);
// * checks, before osls reads burst-compute's outputs with ${cf:<org>-burst-compute-<stage>.<output>}, that
//   burst-compute's stack is deployed (with the same org, stage and region) and has those outputs: a missing
//   stack is one clear line instead of osls's bare 'Value not found at "cf" source';
// * refuses, before deploying, a function or IAM role name longer than AWS allows (a long org, service or
//   stage), instead of CloudFormation failing halfway through the deployment.

const OPTIONS = {
  org: {
    usage: 'Organisation: burst-compute and this service are <org>-burst-compute-<stage> and <org>-{{service}}-<stage>',
    type: 'string',
  },
};
const COMMANDS = ['package', 'deploy', 'remove', 'info', 'invoke', 'print', 'logs', 'rollback', 'metrics'];
const SUBCOMMANDS = { deploy: ['function', 'list'], invoke: ['local'], rollback: ['function'] };
// the outputs of burst-compute's stack that serverless.yml reads
const FRAMEWORK_OUTPUTS = ['HelpersLayer', 'TasksTable', 'MapJobsInputsBucket'];
// serverless.yml's default org: custom.org is `${opt:org, '<default>'}`
const DEFAULT_ORG = /^\$\{opt:org,\s*['"]([^'"]+)['"]\s*\}$/;
// the names AWS limits to 64 characters: Lambda's FunctionName and IAM's RoleName
const NAME_PROPERTIES = { 'AWS::Lambda::Function': 'FunctionName', 'AWS::IAM::Role': 'RoleName' };
const MAX_NAME_LENGTH = 64;

// The AWS SDK osls itself uses (a dependency of osls, found from osls's own directory)
function cloudFormation() {
  const name = '@aws-sdk/client-cloudformation';
  try {
    return require.main.require(name);
  } catch (error) {
    return require(name);
  }
}

class BurstCompute {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options || {};
    this.commands = {};
    for (const name of COMMANDS) {
      const command = { options: OPTIONS };
      if (SUBCOMMANDS[name]) {
        command.commands = {};
        for (const sub of SUBCOMMANDS[name]) command.commands[sub] = { options: OPTIONS };
      }
      this.commands[name] = command;
    }
    // once the template is complete (serverless.yml's resources merged in), before it is saved
    this.hooks = { 'before:aws:package:finalize:saveServiceState': () => this.checkNames() };
  }

  checkNames() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate || {};
    for (const [logicalId, resource] of Object.entries(template.Resources || {})) {
      const property = NAME_PROPERTIES[resource.Type];
      const name = property && (resource.Properties || {})[property];
      if (typeof name === 'string' && name.length > MAX_NAME_LENGTH) {
        throw new this.serverless.classes.Error(
          `${logicalId}'s ${property} ${name} is ${name.length} characters, AWS allows ${MAX_NAME_LENGTH}: ` +
            'deploy with a shorter org or stage, or shorten the name in serverless.yml',
          'BURST_NAME_TOO_LONG'
        );
      }
    }
  }

  org() {
    if (this.options.org) return this.options.org;
    const custom = (this.serverless.configurationInput || {}).custom || {};
    const configured = String(custom.org || '');
    const fallback = DEFAULT_ORG.exec(configured);
    if (fallback) return fallback[1];
    return configured.includes('${') ? null : configured || null;
  }

  // osls calls asyncInit once the plugins are loaded, before it resolves ${cf:...} variables
  async asyncInit() {
    const commands = (this.serverless.processedInput || {}).commands || [];
    if (!commands.length || commands[0] === 'plugin' || this.options.help) return;
    const org = this.org();
    if (!org) return; // an org this check cannot work out: osls resolves ${cf:...} as usual
    const provider = this.serverless.getProvider('aws');
    const stage = provider.getStage();
    const region = provider.getRegion();
    const stack = `${org}-burst-compute-${stage}`;
    let described;
    try {
      const { DescribeStacksCommand } = cloudFormation();
      const client = await provider.getCloudFormationClient();
      described = await client.send(new DescribeStacksCommand({ StackName: stack }));
    } catch (error) {
      if (/does not exist/.test(String(error && error.message))) {
        throw new this.serverless.classes.Error(
          `burst-compute's stack ${stack} is not deployed in ${region}: deploy burst-compute first, in its ` +
            `directory: npx sls deploy --stage ${stage} --org ${org} --region ${region}`,
          'BURST_COMPUTE_NOT_DEPLOYED'
        );
      }
      return; // no credentials, no network...: osls reports it when it reads the outputs itself
    }
    const outputs = new Set(((described.Stacks || [])[0] || {}).Outputs?.map((output) => output.OutputKey) || []);
    const missing = FRAMEWORK_OUTPUTS.filter((key) => !outputs.has(key));
    if (missing.length) {
      throw new this.serverless.classes.Error(
        `burst-compute's stack ${stack} in ${region} has no output ${missing.join(', ')}: deploy a newer ` +
          `burst-compute, in its directory: npx sls deploy --stage ${stage} --org ${org} --region ${region}`,
        'BURST_COMPUTE_OUTPUTS_MISSING'
      );
    }
  }
}

module.exports = BurstCompute;
