/**
 * A small real calibration set (short children's stories in the built-in model's domain, written for
 * these tests) shared by the engine's unit tests, the browser tests and the bench.
 */
import type { TextTokenizer } from '../model/tokenizer';
import type { CalibrationSample } from '../core/stats';

export const CALIBRATION_TEST_TEXTS: readonly string[] = [
  'Once upon a time, there was a little boy named Tom. He liked to build towers with his red blocks. One day, the tallest tower fell down, and Tom felt sad. His mom helped him build it again, and it was even taller than before.',
  'Lily had a small cat called Mittens. Every morning, Mittens sat by the window and watched the birds. One day, a bird landed on the grass, and Mittens ran outside. The bird flew away, and Mittens came back to Lily for a hug.',
  'The sun was shining, so Sara and Ben went to the park. They played on the swings and ate apples under a big tree.',
  'Max found a shiny stone in the garden. He showed it to his sister, and she said it looked like a star. They put the stone on the shelf in their room, and every night it made them smile.',
  'It was a rainy day. Anna could not play outside, so she drew a picture of a rainbow. When the rain stopped, a real rainbow came out, and Anna ran to show her dad.',
  'A little dog named Spot lost his ball. He looked under the bed, behind the door and in the kitchen. At last he found it in the garden, next to a happy frog.',
  'Mia wanted to bake a cake for her grandma. She mixed the flour, the eggs and the sugar with her mom. The cake was warm and sweet, and grandma said it was the best cake ever.',
  'One night, Jack looked at the moon and wished he could fly. He dreamed that he was a bird, flying over the trees and the houses. In the morning, he told his friends about his big dream.',
];

/**
 * The texts as persona-style samples: BOS first, a "prompt" of 6 tokens with weight 0, then the
 * "response" with a per-sample weight (0.5, 0.75, ...), so masks and weights both matter.
 */
export function calibrationTestSamples(tokenizer: TextTokenizer): CalibrationSample[] {
  return CALIBRATION_TEST_TEXTS.map((text, i) => {
    const ids = tokenizer.encode(text, { addBos: true });
    return { ids, weights: Float32Array.from(ids, (_, t) => (t < 6 ? 0 : 0.5 + 0.25 * i)) };
  });
}
