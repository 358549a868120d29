import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { passlens } from './helpers';

interface SettingSchema {
  type: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
}

suite('settings', () => {
  test('@vsix every contributed setting is readable with its declared type', () => {
    const properties = passlens().packageJSON.contributes.configuration.properties as Record<string, SettingSchema>;
    const keys = Object.keys(properties);
    assert.ok(keys.length > 0, 'no contributed settings');
    const config = vscode.workspace.getConfiguration();
    for (const key of keys) {
      const schema = properties[key];
      const value = config.get(key);
      assert.notEqual(value, undefined, `${key} is not readable`);
      const expected = schema.type === 'integer' ? 'number' : schema.type;
      assert.equal(typeof value, expected, `${key}: ${JSON.stringify(value)} is not a ${schema.type}`);
      if (schema.type === 'integer') assert.ok(Number.isInteger(value), `${key}: ${value} is not an integer`);
      if (schema.enum) assert.ok(schema.enum.includes(value), `${key}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
      if (typeof value === 'number' && schema.minimum !== undefined) assert.ok(value >= schema.minimum, `${key} below its minimum`);
      if (typeof value === 'number' && schema.maximum !== undefined) assert.ok(value <= schema.maximum, `${key} above its maximum`);
    }
  });

  test('@vsix workspace settings from .vscode/settings.json reach PassLens', () => {
    // The runner writes these into the temporary workspace (harness/workspace.ts).
    const config = vscode.workspace.getConfiguration('passlens');
    assert.equal(config.inspect('sandbox.timeoutSeconds')?.workspaceValue, 7);
    assert.equal(config.get('sandbox.timeoutSeconds'), 7);
    assert.equal(config.get('generator.offlineOnly'), true);
    assert.equal(config.inspect('sandbox.timeoutSeconds')?.defaultValue, 4);
  });
});
