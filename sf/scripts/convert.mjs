#!/usr/bin/env node
// Converts sf/force-app (source format) to Metadata API format with Salesforce's own
// source-deploy-retrieve library, offline: the structural check CI runs on the metadata.
//
//   node scripts/convert.mjs [OUTPUT_DIR]      (run from sf/; OUTPUT_DIR defaults to mdapi_out)
//
// Prints one "<Type> <fullName>" line per component and the package.xml written, and exits
// non-zero when a file resolves to no metadata component, a component's XML is malformed or has
// the wrong root element, or the conversion fails.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ComponentSet, MetadataConverter } from '@salesforce/source-deploy-retrieve';
import { XMLValidator } from 'fast-xml-parser';

const sfDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const project = JSON.parse(readFileSync(join(sfDir, 'sfdx-project.json'), 'utf8'));
const outputDirectory = resolve(process.argv[2] ?? join(sfDir, 'mdapi_out'));

function fail(message) {
  console.error(`convert: ${message}`);
  process.exit(1);
}

async function main() {
  const sourcePaths = project.packageDirectories.map((dir) => join(sfDir, dir.path));
  for (const path of sourcePaths) {
    if (!existsSync(path)) fail(`package directory ${path} (from sfdx-project.json) does not exist`);
  }

  // fromSource throws on any file it cannot map to a metadata type.
  const components = ComponentSet.fromSource(sourcePaths);
  components.sourceApiVersion = project.sourceApiVersion;
  const sourceComponents = components.getSourceComponents().toArray();
  if (sourceComponents.length === 0) fail(`no metadata components under ${sourcePaths.join(', ')}`);

  // fromSource skips files it cannot place inside a component's folder; every file must belong
  // to a component, or it would silently never deploy.
  const claimed = new Set();
  for (const component of sourceComponents) {
    for (const part of [component, ...component.getChildren()]) {
      if (part.xml) claimed.add(resolve(part.xml));
      // A decomposed type's "content" is its whole folder; its files are its children's.
      if (part.type.strategies?.adapter === 'decomposed') continue;
      for (const path of part.walkContent()) claimed.add(resolve(path));
    }
  }
  for (const root of sourcePaths) {
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      const path = resolve(entry.parentPath ?? entry.path, entry.name);
      if (entry.isFile() && !claimed.has(path)) fail(`${path} resolves to no metadata component`);
    }
  }

  // Conversion copies most files verbatim and SDR's own parser is lenient, so check every
  // component's XML strictly here: a malformed file must fail now, not at deploy time.
  for (const component of sourceComponents) {
    for (const part of [component, ...component.getChildren()]) {
      if (!part.xml) continue;
      const verdict = XMLValidator.validate(readFileSync(part.xml, 'utf8'));
      if (verdict !== true) {
        const { msg, line, col } = verdict.err;
        fail(`${part.xml}:${line}:${col}: ${msg}`);
      }
      const root = Object.keys(await part.parseXml()).find((key) => key !== '?xml');
      if (root !== part.type.name && !(part.type.folderContentType && root?.endsWith('Folder'))) {
        fail(`${part.xml}: root element <${root}> but the file is a ${part.type.name}`);
      }
    }
  }

  rmSync(outputDirectory, { recursive: true, force: true });
  const result = await new MetadataConverter().convert(components, 'metadata', {
    type: 'directory',
    outputDirectory,
    genUniqueDir: false,
  });

  const packageXml = join(result.packagePath ?? outputDirectory, 'package.xml');
  if (!existsSync(packageXml)) fail(`conversion wrote no package.xml into ${outputDirectory}`);

  const lines = [];
  for (const component of components.getSourceComponents()) {
    lines.push(`${component.type.name} ${component.fullName}`);
    for (const child of component.getChildren()) lines.push(`${child.type.name} ${child.fullName}`);
  }
  for (const line of lines.sort()) console.log(line);
  console.log(`package.xml: ${packageXml} (API ${project.sourceApiVersion}, ${lines.length} components)`);
}

main().catch((error) => fail(error?.stack ?? String(error)));
