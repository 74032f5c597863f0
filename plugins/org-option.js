'use strict';

// osls (Serverless Framework v3) refuses unknown CLI options. This plugin declares the options
// the service reads with ${opt:...}: --org (prefix of every resource name) and --tracing.
const OPTIONS = {
  org: {
    usage: 'Organisation: stack and resources are named <org>-burst-compute-<stage>[-<name>] (default: janelia)',
    type: 'string',
  },
  tracing: {
    usage: 'Enable AWS X-Ray tracing of the functions and the state machine: true or false (default: false)',
    type: 'string',
  },
};

const COMMANDS = ['package', 'deploy', 'remove', 'info', 'invoke', 'print', 'logs', 'rollback', 'metrics'];
const SUBCOMMANDS = { deploy: ['function', 'list'], invoke: ['local'], rollback: ['function'] };

class OrgOption {
  constructor() {
    this.commands = {};
    for (const name of COMMANDS) {
      const command = { options: OPTIONS };
      if (SUBCOMMANDS[name]) {
        command.commands = {};
        for (const sub of SUBCOMMANDS[name]) command.commands[sub] = { options: OPTIONS };
      }
      this.commands[name] = command;
    }
  }
}

module.exports = OrgOption;
