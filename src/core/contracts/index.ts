/** The contracts shared with training (contracts/ at the repository root): prompts, code extraction, ranking, calibration. */
export { DEFAULT_TEMPLATES, buildMessages, validateTemplates, type ChatMessage } from './prompt';
export { extractCode, type ExtractedCode } from './codeExtraction';
export { rankingIndex } from './ranking';
export { CALIBRATION_EPSILON, calibrate, parseCalibration, type Calibration } from './calibration';
